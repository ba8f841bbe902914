package listing

import (
	"regexp"
	"strings"
	"sync"
)

// SystemTap 4.8 never makes a kernel or module probe (so never lists one)
// whose function or file name its fixed "blocklist" names, nor a kernel
// probe whose address lies in an init or exit section or in the kernel's
// __kprobes text (dwflpp::build_blacklist, applied by
// dwflpp::blacklisted_p to every probe it adds: function, statement or
// symbol-table one). The expressions are those the installed stap 4.8
// prints with -vvv ("blocklist regexps"); they are POSIX extended
// expressions that Go's syntax reads alike. A module's init and exit
// sections are not refused: stap lists module("9pnet")'s init_p9 in
// .init.text. User-space probes have no blacklist.
var (
	blacklistSection = regexp.MustCompile(`^(\.init\.|\.exit\.|\.devinit\.|\.devexit\.|\.cpuinit\.|\.cpuexit\.|\.meminit\.|\.memexit\.)`)
	blacklistFile    = regexp.MustCompile(`^(kernel/kprobes\.c|arch/.*/kernel/kprobes\.c|.*/include/asm/io\.h|.*/include/asm/io-defs\.h|.*/include/asm/io_64\.h|.*/include/asm/bitops\.h|drivers/ide/ide-iops\.c|arch/.*/kernel/paravirt\.c|.*/include/asm/paravirt\.h|fs/seq_file\.c)$`)
	blacklistFunc    = regexp.MustCompile(`^(atomic_notifier_call_chain|default_do_nmi|__die|die_nmi|do_debug|do_general_protection|do_int3|do_IRQ|do_page_fault|do_sparc64_fault|do_trap|dummy_nmi_callback|flush_icache_range|ia64_bad_break|ia64_do_page_fault|ia64_fault|io_check_error|mem_parity_error|nmi_watchdog_tick|notifier_call_chain|oops_begin|oops_end|program_check_exception|single_step_exception|sync_regs|unhandled_fault|unknown_nmi_error` +
		`|xen_[gs]et_debugreg|xen_irq_.*|xen_.*_fl_direct.*|check_events|xen_adjust_exception_frame|xen_iret.*|xen_sysret64.*|test_ti_thread_flag.*|inat_get_opcode_attribute|system_call_after_swapgs|HYPERVISOR_[gs]et_debugreg|HYPERVISOR_event_channel_op|hash_64|hash_ptr|native_set_pte` +
		`|.*raw_.*_lock.*|.*raw_.*_unlock.*|.*raw_.*_trylock.*|.*read_lock.*|.*read_unlock.*|.*read_trylock.*|.*write_lock.*|.*write_unlock.*|.*write_trylock.*|.*write_seqlock.*|.*write_sequnlock.*|.*spin_lock.*|.*spin_unlock.*|.*spin_trylock.*|.*spin_is_locked.*|rwsem_.*lock.*|.*mutex_.*lock.*` +
		`|atomic_.*|atomic64_.*|get_bh|put_bh|.*apic.*|.*APIC.*|.*softirq.*|.*IRQ.*|.*_intr.*|__delay|.*kernel_text.*|get_current|current_.*|.*exception_tables.*|.*setup_rt_frame.*|.*preempt_count.*|preempt_schedule|__switch_to|special_mapping_.*|.*_pte_.*)$`)
	blacklistReturn = regexp.MustCompile(`^(do_exit|sys_exit|sys_exit_group)$`)
)

// Go's regexp takes microseconds for blacklistFunc's many `.*X.*`
// alternatives, and kernel.function("*") asks it of half a million
// instances. A name that holds none of the literals below, each of which
// one or more alternatives require (funcLiterals), and is none of the
// plain names, cannot match; only the others are asked of the
// expression. Files likewise by the suffixes every alternative of
// blacklistFile ends with. TestBlacklistPrefilter checks the lists
// against the expressions' alternatives.
var (
	funcLiterals = []string{"xen_", "test_ti_thread_flag", "HYPERVISOR_", "raw_", "read_", "write_",
		"spin_", "rwsem_", "mutex_", "atomic", "apic", "APIC", "softirq", "IRQ", "_intr", "kernel_text",
		"current_", "exception_tables", "setup_rt_frame", "preempt_count", "special_mapping_", "_pte_"}
	funcNames = map[string]bool{}
	fileEnds  = []string{"/kprobes.c", "/io.h", "/io-defs.h", "/io_64.h", "/bitops.h", "/ide-iops.c",
		"/paravirt.c", "/paravirt.h", "/seq_file.c"}
)

func init() {
	for _, n := range strings.Split("atomic_notifier_call_chain|default_do_nmi|__die|die_nmi|do_debug|do_general_protection|do_int3|do_IRQ|do_page_fault|do_sparc64_fault|do_trap|dummy_nmi_callback|flush_icache_range|ia64_bad_break|ia64_do_page_fault|ia64_fault|io_check_error|mem_parity_error|nmi_watchdog_tick|notifier_call_chain|oops_begin|oops_end|program_check_exception|single_step_exception|sync_regs|unhandled_fault|unknown_nmi_error|check_events|xen_adjust_exception_frame|inat_get_opcode_attribute|system_call_after_swapgs|HYPERVISOR_event_channel_op|hash_64|hash_ptr|native_set_pte|get_bh|put_bh|__delay|get_current|preempt_schedule|__switch_to", "|") {
		funcNames[n] = true
	}
}

// sectionPrefixes are the alternatives of blacklistSection, each a
// plain prefix: a section name matches the expression exactly when it
// begins with one of them (TestBlacklistPrefilter).
var sectionPrefixes = []string{".init.", ".exit.", ".devinit.", ".devexit.", ".cpuinit.", ".cpuexit.", ".meminit.", ".memexit."}

// blacklistedSection is blacklistSection.MatchString without the
// expression's cost.
func blacklistedSection(sec string) bool {
	for _, p := range sectionPrefixes {
		if strings.HasPrefix(sec, p) {
			return true
		}
	}
	return false
}

// funcVerdicts remembers blacklistFunc's verdict on the names that pass
// the prefilter: an inlined function's instances share a name.
var funcVerdicts sync.Map

// blacklistedFunc is blacklistFunc.MatchString, prefiltered and
// remembered.
func blacklistedFunc(name string) bool {
	if !mayBlacklistFunc(name) {
		return false
	}
	if v, ok := funcVerdicts.Load(name); ok {
		return v.(bool)
	}
	v := blacklistFunc.MatchString(name)
	funcVerdicts.Store(name, v)
	return v
}

// mayBlacklistFunc reports whether blacklistFunc can match name.
func mayBlacklistFunc(name string) bool {
	if funcNames[name] {
		return true
	}
	for _, l := range funcLiterals {
		if strings.Contains(name, l) {
			return true
		}
	}
	return false
}

// mayBlacklistFile reports whether blacklistFile can match file.
func mayBlacklistFile(file string) bool {
	for _, e := range fileEnds {
		if strings.HasSuffix(file, e) || file == e[1:] {
			return true
		}
	}
	return false
}

// KernelProbe is what the blacklist looks at in a kernel or module probe.
type KernelProbe struct {
	Func, File string // the function name and the file as the point prints them
	// Section is the kernel's allocated section holding the probe's
	// address; "" for a module's.
	Section string
	Return  bool // a .return probe
	// InKprobesText says the address lies in the kernel's
	// [__kprobes_text_start, __kprobes_text_end).
	InKprobesText bool
}

// Blacklisted reports whether SystemTap 4.8 refuses the kernel or module
// probe p (without guru mode).
func Blacklisted(p KernelProbe) bool {
	if blacklistedSection(p.Section) || p.InKprobesText {
		return true
	}
	if blacklistedFunc(p.Func) || (mayBlacklistFile(p.File) && blacklistFile.MatchString(p.File)) {
		return true
	}
	return p.Return && blacklistReturn.MatchString(p.Func)
}
