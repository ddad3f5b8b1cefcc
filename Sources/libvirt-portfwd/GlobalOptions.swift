import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

/// Options every subcommand takes. Environment variables stand in when the options are absent,
/// because libvirtd runs the hook with no way to pass arguments.
struct GlobalOptions {
    static let specs: [OptionSpec] = [
        .value("config", "path", "Config file (env LIBVIRT_PORTFWD_CONFIG; default /etc/libvirt/portfwd.toml)."),
        .value("state-dir", "dir", "State directory (env LIBVIRT_PORTFWD_STATE_DIR; default /run/libvirt-portfwd)."),
        .value("backend", "name", "Backend, overriding settings.backend: auto, nftables or iptables.",
               choices: Settings.Backend.allCases.map(\.rawValue)),
        .value("iptables", "flavour", "iptables flavour for the iptables backend: nft or legacy "
                   + "(default: the one libvirt uses; env LIBVIRT_PORTFWD_IPTABLES).",
               choices: IptablesFlavour.allCases.map(\.rawValue)),
        OptionSpec(name: "libvirt-root", valueName: "dir",
                   help: "Prefix for libvirt's files (network XML, leases, running domains) and /proc/net, "
                       + "for tests (env LIBVIRT_PORTFWD_LIBVIRT_ROOT).",
                   hidden: true),
    ]

    var config: String?
    var stateDir: String?
    var backend: Settings.Backend?
    var iptables: IptablesFlavour?
    var libvirtRoot: String?

    /// The parser has checked the choices already.
    init(_ arguments: Arguments) {
        config = arguments.value("config")
        stateDir = arguments.value("state-dir")
        backend = arguments.value("backend").flatMap(Settings.Backend.init(rawValue:))
        iptables = (arguments.value("iptables") ?? Locations.environment("LIBVIRT_PORTFWD_IPTABLES")).flatMap(IptablesFlavour.init(rawValue:))
        libvirtRoot = arguments.value("libvirt-root") ?? Locations.environment("LIBVIRT_PORTFWD_LIBVIRT_ROOT")
    }

    var configPath: (path: String, required: Bool) { Locations.config(option: config) }

    var store: StateStore { StateStore(directory: Locations.stateDirectory(option: stateDir)) }

    /// How long the host waits for a guest to answer for an address (`NeighbourProbe`).
    var probeTimeout = NeighbourProbe.timeout

    var libvirt: LibvirtFiles { LibvirtFiles(paths: LibvirtPaths(root: libvirtRoot ?? ""), probeWait: probeTimeout) }

    /// Everything the options say, for the library.
    var setup: Setup {
        let (path, required) = configPath
        return Setup(configPath: path, configRequired: required, store: store, libvirt: libvirt,
                     host: .system(paths: libvirt.paths, backend: backend, flavour: iptables))
    }
}

/// Where the config and the state live: the option, else the environment (libvirtd runs the
/// hook with no way to pass arguments), else the default.
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

/// Prints one line per problem on stderr and asks for exit status 1: no stack traces for an
/// admin to read.
func fail(_ error: Error) -> ExitStatus {
    for line in LogText.capped(String(describing: error).split(separator: "\n").map(String.init), limit: 20) { warn(line) }
    return ExitStatus(1)
}

func warn(_ line: String) { Stderr.line(line) }
