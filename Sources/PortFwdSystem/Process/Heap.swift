import CLinux

/// The process's heap, for the service, which sleeps for long spells between bursts of work.
public enum Heap {
    /// Gives the heap's free pages back to the kernel. glibc keeps what a burst freed (plans,
    /// listings, parsed XML) for the next one, and a service asleep for hours would hold it as
    /// resident memory for nothing. The cost is a walk of the free lists, and faults to map
    /// pages again at the next burst: once per burst, not per wake-up.
    public static func release() { _ = malloc_trim(0) }
}
