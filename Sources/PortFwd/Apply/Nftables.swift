import CNftables
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one seam to the kernel's nftables: run a script as a single transaction.
/// `LibNftables` is the real one; tests use a recording fake.
public protocol NftablesRunner: Sendable {
    /// Runs `script`. With `json`, listings come back as libnftables JSON.
    /// With `dryRun`, the kernel checks the whole transaction and commits nothing.
    func run(_ script: String, json: Bool, dryRun: Bool) throws(NftablesError) -> String
}

extension NftablesRunner {
    public func run(_ script: String) throws(NftablesError) -> String { try run(script, json: false, dryRun: false) }
}

/// libnftables' own error text, as nft would print it.
public struct NftablesError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// libnftables through its C API. The library keeps global state, so one context per process,
/// used under a lock.
public final class LibNftables: NftablesRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var context: OpaquePointer?

    public init() {}

    deinit {
        if let context { nft_ctx_free(context) }
    }

    public func run(_ script: String, json: Bool, dryRun: Bool) throws(NftablesError) -> String {
        lock.lock()
        defer { lock.unlock() }
        let ctx = try self.ctx()
        nft_ctx_output_set_flags(ctx, json ? UInt32(NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE) : 0)
        nft_ctx_set_dry_run(ctx, dryRun)
        let status = nft_run_cmd_from_buffer(ctx, script)
        // The buffers are reused by the next command: copy them now.
        let output = nft_ctx_get_output_buffer(ctx).map { String(cString: $0) } ?? ""
        let error = nft_ctx_get_error_buffer(ctx).map { String(cString: $0) } ?? ""
        nft_ctx_set_dry_run(ctx, false)
        guard status == 0 else {
            let text = error.trimmingCharacters(in: .whitespacesAndNewlines)
            throw NftablesError(text.isEmpty ? "libnftables failed with status \(status)" : text)
        }
        return output
    }

    private func ctx() throws(NftablesError) -> OpaquePointer {
        if let context { return context }
        // nft_ctx_new() calls exit() when it cannot open a netlink socket; find out first.
        let probe = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 12 /* NETLINK_NETFILTER */)
        guard probe >= 0 else {
            throw NftablesError("cannot open a netfilter netlink socket: \(String(cString: strerror(errno)))")
        }
        close(probe)
        guard let created = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            throw NftablesError("nft_ctx_new failed")
        }
        nft_ctx_buffer_output(created)
        nft_ctx_buffer_error(created)
        context = created
        return created
    }
}
