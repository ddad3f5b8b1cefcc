import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem
import Synchronization

/// Where this process finds its config, its state and libvirt's files, and the host with the
/// backend it was told to use: everything a command line or a hook shim can say, turned into
/// reconcilers.
/// The one place that decides which config applies when the file on disk does not parse.
public struct Setup: Sendable {
    public let configPath: String
    /// Whether the config file must exist: named by an option or the environment. At the
    /// default path a missing file means "no config forwards".
    public let configRequired: Bool
    public let store: StateStore
    public let libvirt: LibvirtFiles
    /// One per process: its probes are kept for every reconciler built here.
    public let host: Host

    public init(configPath: String, configRequired: Bool, store: StateStore, libvirt: LibvirtFiles,
                host: Host = .system()) {
        self.configPath = configPath
        self.configRequired = configRequired
        self.store = store
        self.libvirt = libvirt
        self.host = host
    }

    /// The drop-in directory beside the config file: `/etc/libvirt/portfwd.d`.
    public var dropInDirectory: String { ConfigFile.dropInDirectory(of: configPath) }

    /// The config's text: the file's ("" when it is absent and need not exist), then every
    /// drop-in's, as one bundle (`ConfigFiles`). `candidate` stands in for the file at its path,
    /// the main one or a drop-in, there or not yet (`check --candidate`): the config as it
    /// would be once the candidate is moved there. The files together are held to
    /// `ConfigFiles.maximumSize`, as the state directory keeps them.
    public func configText(candidate: ConfigFiles.File? = nil) throws(PortFwdError) -> String {
        func text(_ path: String, required: Bool, trust: SafeFile.Trust) throws(PortFwdError) -> String {
            if let candidate, candidate.path == path { return candidate.text }
            return try ConfigFile.read(path: path, required: required, trust: trust) ?? ""
        }
        var files = [ConfigFiles.File(path: configPath, text: try text(configPath, required: configRequired, trust: .regularFile))]
        var paths = try ConfigFile.dropIns(in: dropInDirectory)
        if let candidate, candidate.path != configPath, !paths.contains(candidate.path) { paths = (paths + [candidate.path]).sorted() }
        var size = files[0].text.utf8.count
        for path in paths {
            files.append(ConfigFiles.File(path: path, text: try text(path, required: true, trust: .strict)))
            size += files.last!.text.utf8.count
            guard size <= ConfigFiles.maximumSize else {
                throw PortFwdError(.invalidInput, "\(path): the config and its drop-ins hold more than "
                    + "\(ConfigFiles.maximumSize >> 20) MiB together; refusing to read further")
            }
        }
        return ConfigFiles(files).bundle
    }

    /// The config file, parsed; throws with its file and line when it does not parse.
    public func config() throws(PortFwdError) -> Config {
        try ConfigCache.shared.parse(try configText(), file: configPath)
    }

    /// On the config file, which must parse: `apply`, `check`, reload, `forward add`.
    public func reconciler(probe: Bool = true, candidate: ConfigFiles.File? = nil) throws(PortFwdError) -> Reconciler {
        let text = try configText(candidate: candidate)
        return reconciler(try ConfigCache.shared.parse(text, file: configPath), text: text, probe: probe)
    }

    /// On the config as it last applied (kept in the state directory), else the file's: what
    /// the service repairs towards, so that an edit applies on `apply` or reload only. Never
    /// fails: when neither reads, as `tolerantReconciler`, with `problem` saying why.
    public func reconcilerAsLastApplied() -> (Reconciler, problem: String?) {
        guard let last = store.lastConfig else { return tolerantReconciler() }
        do {
            return (reconciler(try ConfigCache.shared.parse(last, file: configPath, lastApplied: true), text: nil), nil)
        } catch {
            // What applied last no longer reads (written by a version with other limits): the
            // file's config stands in, and is not recorded as applied, since no apply ran.
            let (file, problem) = tolerantReconciler()
            return (reconciler(file.config, text: nil), "\(error.oneLine)" + (problem.map { "; \($0)" } ?? "; using the config file"))
        }
    }

    /// For events (hooks, `status`, `forward list`): the config file; when it does not parse,
    /// the config as it last applied, and failing that none, with `problem` saying so. As
    /// nginx and haproxy do: a typo is reported loudly, and everything else goes on.
    public func tolerantReconciler(text known: String? = nil) -> (Reconciler, problem: String?) {
        do {
            let text = try known ?? configText()
            return (reconciler(try ConfigCache.shared.parse(text, file: configPath), text: text), nil)
        } catch {
            let problem = "\(error.oneLine) (libvirt-portfwd check shows every problem)"
            guard let last = store.lastConfig else {
                return (reconciler(Config(file: configPath), text: nil), problem + "; no config has applied yet, so only metadata forwards apply")
            }
            do {
                return (reconciler(try ConfigCache.shared.parse(last, file: configPath, lastApplied: true), text: nil),
                        problem + "; using the config as it last applied")
            } catch {
                return (reconciler(Config(file: configPath), text: nil),
                        problem + "; the config as it last applied does not read either (\(error.oneLine)), so only metadata forwards apply")
            }
        }
    }

    /// `text`: what `remember` keeps as the config last applied, nil to keep what is there.
    public func reconciler(_ config: Config, text: String?, probe: Bool = true) -> Reconciler {
        Reconciler(config: config, configText: text, store: store, libvirt: libvirt, host: probe ? host : host.unprobed)
    }
}

/// Configs parsed, by their exact text: the service checks against the config at every wake-up,
/// and parses each text once. A few entries: the file's, and the last applied.
final class ConfigCache: Sendable {
    static let shared = ConfigCache()
    private let entries = Mutex<[(text: String, file: String, config: Config)]>([])

    /// `text`: a bundle of the config's files (`ConfigFiles`); `file`: the main one's path.
    func parse(_ text: String, file: String, lastApplied: Bool = false) throws(PortFwdError) -> Config {
        let key = lastApplied ? file + " (as last applied)" : file
        if let hit = entries.withLock({ $0.first { $0.text == text && $0.file == key } }) { return hit.config }
        var config: Config
        do { config = try ConfigFiles(bundle: text, main: file).parse() } catch {
            throw lastApplied ? PortFwdError(error.code, lines: error.lines.map { "(as last applied) \($0)" }) : error
        }
        config.file = file
        entries.withLock { list in
            list.insert((text, key, config), at: 0)
            if list.count > 4 { list.removeLast() }
        }
        return config
    }
}
