import Foundation
import PortFwd

/// Options every subcommand takes. Environment variables stand in when the options are absent,
/// because libvirtd runs the hook with no way to pass arguments.
struct GlobalOptions {
    static let specs: [OptionSpec] = [
        .value("config", "path", "Config file (env LIBVIRT_PORTFWD_CONFIG)."),
        .value("state-dir", "dir", "State directory (env LIBVIRT_PORTFWD_STATE_DIR)."),
        .value("backend", "name", "Backend, overriding settings.backend: auto, nftables or iptables.",
               choices: Settings.Backend.allCases.map(\.rawValue)),
        .value("iptables", "flavour", "iptables flavour for the iptables backend: nft or legacy (default: the one libvirt uses; env LIBVIRT_PORTFWD_IPTABLES).",
               choices: IptablesFlavor.allCases.map(\.rawValue)),
    ]

    var config: String?
    var stateDir: String?
    var backend: Settings.Backend?
    var iptables: IptablesFlavor?

    /// The parser has checked the choices already.
    init(_ arguments: Arguments) {
        config = arguments.value("config")
        stateDir = arguments.value("state-dir")
        backend = arguments.value("backend").flatMap(Settings.Backend.init(rawValue:))
        iptables = arguments.value("iptables").flatMap(IptablesFlavor.init(rawValue:))
    }

    var configPath: (path: String, required: Bool) { Locations.config(option: config) }

    var store: StateStore { StateStore(directory: Locations.stateDirectory(option: stateDir)) }

    /// `text`: the file's contents when the caller has already read them (the hook does).
    func loadConfig(text: String? = nil) throws -> Config {
        let (path, required) = configPath
        if let text { return try Config.parse(text, file: path) }
        return try Config.load(path: path, required: required)
    }

    func backends(_ config: Config) -> (selected: FirewallBackend, retired: [FirewallBackend]) {
        let env = Locations.environment("LIBVIRT_PORTFWD_IPTABLES").flatMap(IptablesFlavor.init(rawValue:))
        return Backends.make(settings: config.settings, override: backend, flavor: iptables ?? env)
    }

    func reconciler() throws -> Reconciler {
        let config = try loadConfig()
        let (selected, retired) = backends(config)
        return Reconciler(config: config, store: store, backend: selected, retired: retired)
    }
}

/// Where the config and the state live: the option, else the environment (libvirtd runs the
/// hook with no way to pass arguments), else the default. Shared by GlobalOptions and HookInput.
enum Locations {
    static func config(option: String?) -> (path: String, required: Bool) {
        if let option { return (option, true) }
        if let env = environment("LIBVIRT_PORTFWD_CONFIG") { return (env, true) }
        return (Config.defaultPath, false)
    }

    static func stateDirectory(option: String?) -> String {
        option ?? environment("LIBVIRT_PORTFWD_STATE_DIR") ?? StateStore.defaultDirectory
    }

    /// A variable's value; nil when unset or empty.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}


/// Prints one line per problem on stderr and exits 1: no stack traces for an admin to read.
func fail(_ error: Error) -> ExitStatus {
    let text: String
    switch error {
    case let e as CustomStringConvertible: text = e.description
    default: text = "\(error)"
    }
    for line in text.split(separator: "\n") { warn(String(line)) }
    return ExitStatus(1)
}

func warn(_ line: String) {
    FileHandle.standardError.write(Data("libvirt-portfwd: \(line)\n".utf8))
}
