import CNftables
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import PortFwdCore

/// The one seam to the kernel's nftables: typed commands, committed as one transaction, and
/// typed listings. `LibNftables.shared` is the real one, and the only place they become nft
/// text; tests apply the same values to an in-memory ruleset (`FakeNftables`).
public protocol NftablesRunner: Sendable {
    /// Commits `transaction`: every command or none. With `dryRun`, the kernel checks the whole
    /// transaction and commits nothing.
    func commit(_ transaction: NftTransaction, dryRun: Bool) throws(PortFwdError)
    /// The kernel's answer as libnftables' JSON (`NftJSON` reads it).
    func list(_ query: NftQuery) throws(PortFwdError) -> String
    /// The elements of set `name` in `table`, its key read as `key`, with their counters and
    /// comments; `.notFound` when there is no such table or set.
    func elements(of table: NftTableID, set name: String, key: [NftField]) throws(PortFwdError) -> [NftElement]
    /// Whether `table`, or its chain `chain`, exists; `.permission` when this process may not ask.
    func exists(_ table: NftTableID, chain: String?) throws(PortFwdError) -> Bool
    /// Whether `destroy` is understood (nftables >= 1.0.7).
    var hasDestroy: Bool { get }
    /// What the kernel's listing of a statement depends on besides the statement: the
    /// libnftables file that writes it and the kernel that compiled it (`RuleContents`).
    var generation: String { get }
}

extension NftablesRunner {
    public func commit(_ transaction: NftTransaction) throws(PortFwdError) { try commit(transaction, dryRun: false) }
    public func commit(_ commands: NftCommand...) throws(PortFwdError) { try commit(NftTransaction(commands), dryRun: false) }
    public var hasDestroy: Bool { false }
    public var generation: String { "" }

    /// Through a listing: what a runner without a kernel of its own answers.
    public func exists(_ table: NftTableID, chain: String? = nil) throws(PortFwdError) -> Bool {
        do { _ = try list(chain.map { .chain(table, $0) } ?? .table(table)) } catch {
            if error.code == .notFound { return false }
            throw error
        }
        return true
    }

    /// Through the set's JSON listing: what a runner without a kernel of its own answers.
    public func elements(of table: NftTableID, set name: String, key: [NftField]) throws(PortFwdError) -> [NftElement] {
        try NftJSON.table(try list(.set(table, name))).sets.first { $0.name == name }?.elements ?? []
    }
}

/// libnftables through its C API (CNftables). The library keeps global state, so there is one
/// context per process, used under a lock.
public final class LibNftables: NftablesRunner, @unchecked Sendable {
    public static let shared = LibNftables()

    private let lock = Mutex<Void>(())
    nonisolated(unsafe) private var context: OpaquePointer?

    /// The tool uses `shared`; tests make one per network namespace they run in, since a
    /// context talks to the namespace of the thread that created it.
    public init() {}

    public var hasDestroy: Bool { pf_nft_api_get()?.pointee.has_destroy ?? false }

    /// libnftables' file as this process loaded it (path, inode, size, modification time: an
    /// upgrade changes it, and a process started before one keeps the old library) and the
    /// kernel's release, as printable words.
    public var generation: String { Self.generation }

    private static let generation: String = {
        var words: [String] = []
        let library = String(cString: pf_nft_library_identity())
        if !library.isEmpty { words.append(library) }
        var names = utsname()
        if uname(&names) == 0 {
            words.append(withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return words.map { String($0.unicodeScalars.map { $0.value > 0x20 && $0.value < 0x7f ? Character($0) : "_" }) }
            .joined(separator: " ")
    }()

    /// Why libnftables cannot be loaded on this host; nil when it can (for `--version`).
    public static var loadError: String? { pf_nft_api_get() != nil ? nil : String(cString: pf_nft_load_error()) }

    public func commit(_ transaction: NftTransaction, dryRun: Bool) throws(PortFwdError) {
        _ = try run(transaction.script, json: false, dryRun: dryRun)
    }

    public func list(_ query: NftQuery) throws(PortFwdError) -> String {
        try run(query.text, json: true, terse: query.terse, dryRun: false)
    }

    /// Asked of the kernel over netlink (`NftNetlink`): a libnftables listing would parse,
    /// set up its cache and write JSON to say the same. libnftables must load all the same,
    /// or a caller deciding whether nftables is usable would be told yes wrongly.
    public func exists(_ table: NftTableID, chain: String? = nil) throws(PortFwdError) -> Bool {
        guard pf_nft_api_get() != nil else { throw PortFwdError(.unavailable, String(cString: pf_nft_load_error())) }
        return try NftNetlink.exists(table, chain: chain)
    }

    /// Straight from the kernel over netlink (`SetElements`), around libnftables' cache and JSON.
    public func elements(of table: NftTableID, set name: String, key: [NftField]) throws(PortFwdError) -> [NftElement] {
        try SetElements.read(table, set: name, key: key)
    }

    /// The C boundary: nft text in, libnftables' output out. Internal: callers hand typed
    /// values to `commit` and `list`; tests use it to play another program changing the ruleset.
    func run(_ script: String, json: Bool = false, terse: Bool = false, dryRun: Bool = false) throws(PortFwdError) -> String {
        let result: Result<String, PortFwdError> = lock.withLock { _ in
            do throws(PortFwdError) { return .success(try locked(script, json: json, terse: terse, dryRun: dryRun)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func locked(_ script: String, json: Bool, terse: Bool, dryRun: Bool) throws(PortFwdError) -> String {
        let (api, ctx) = try self.ctx()
        // Protocols as numbers: by name, libnftables reads /etc/protocols once per element
        // it prints (10,000 opens for a table of 10,000 forwards).
        let flags = json ? UInt32(NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_NUMERIC_PROTO) : 0
        api.output_set_flags(ctx, flags | (terse ? UInt32(NFT_CTX_OUTPUT_TERSE) : 0))
        api.set_dry_run(ctx, dryRun)
        let status = api.run_cmd_from_buffer(ctx, script)
        // The buffers are reused by the next command: copy them now.
        let output = api.get_output_buffer(ctx).map { String(cString: $0) } ?? ""
        let error = api.get_error_buffer(ctx).map { String(cString: $0) } ?? ""
        api.set_dry_run(ctx, false)
        guard status == 0 else {
            let text = error.trimmed
            throw Self.classify(text.isEmpty ? "libnftables failed with status \(status)" : text)
        }
        return output
    }

    /// libnftables reports errno through nft's own message text; this is the one place that
    /// reads it, so callers branch on the code instead. Only the first line, as knftables does:
    /// the lines after it echo the command, whose own words (a set named "File exists") must
    /// not decide the class.
    static func classify(_ message: String) -> PortFwdError {
        let first = message.prefix { $0 != "\n" }
        if first.containsUTF8("No such file or directory") { return PortFwdError(.notFound, message) }
        if first.containsUTF8("Operation not permitted") || first.containsUTF8("Permission denied") { return PortFwdError(.permission, message) }
        if first.containsUTF8("File exists") { return PortFwdError(.exists, message) }
        return PortFwdError(.refused, message)
    }

    private func ctx() throws(PortFwdError) -> (pf_nft_api, OpaquePointer) {
        guard let api = pf_nft_api_get()?.pointee else {
            throw PortFwdError(.unavailable, String(cString: pf_nft_load_error()))
        }
        if let context { return (api, context) }
        // nft_ctx_new() calls exit() when it cannot open a netlink socket; find out first.
        let probe = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 12 /* NETLINK_NETFILTER */)
        guard probe >= 0 else {
            let code: PortFwdError.Code = errno == EPERM || errno == EACCES ? .permission : .unavailable
            throw PortFwdError(code, "cannot open a netfilter netlink socket: \(SystemCall.reason())")
        }
        close(probe)
        guard let created = api.ctx_new(UInt32(NFT_CTX_DEFAULT)) else { throw PortFwdError(.unavailable, "nft_ctx_new failed") }
        _ = api.buffer_output(created)
        _ = api.buffer_error(created)
        context = created
        return (api, created)
    }
}
