import PortFwdCore

extension Fixtures {
    /// The plan of every configured guest (what `apply --all` installs).
    public static func plan(_ toml: String) throws -> Plan {
        let config = try Config.parse(toml)
        let result = Resolver.resolve(config: config, running: [], all: true)
        // As apply refuses it: config forwards that clash.
        if !result.conflicts.isEmpty { throw PortFwdError(.conflict, lines: result.conflicts) }
        return try Plan(guests: result.guests, settings: config.settings)
    }
}
