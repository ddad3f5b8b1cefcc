/// Which guests the rules cover. `all` is what `apply --all` records, for hosts that run
/// without the hook; hooks and the service keep it until `apply --running`. `off` is what
/// `flush` records: records still follow the guests, but nothing is installed until `apply`.
/// The state store keeps it (`mode`), so the type is the store's.
public enum Mode: String, Sendable, CaseIterable {
    case running, all, off
}
