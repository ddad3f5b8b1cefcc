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

/// libnftables through its C API, loaded with dlopen on first use rather than linked: most
/// processes are hook calls for guests without forwards, and loading libnftables with its
/// five dependencies would be a measurable share of their run time (bench/RESULTS.md). It also
/// lets a host without libnftables run the iptables backend. The library keeps global state,
/// so one context per process, used under a lock.
public final class LibNftables: NftablesRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var api: API?
    private var context: OpaquePointer?

    public init() {}

    deinit {
        if let context, let api { api.ctxFree(context) }
    }

    public func run(_ script: String, json: Bool, dryRun: Bool) throws(NftablesError) -> String {
        lock.lock()
        defer { lock.unlock() }
        let (api, ctx) = try self.ctx()
        api.outputSetFlags(ctx, json ? API.outputJSON | API.outputHandle : 0)
        api.setDryRun(ctx, dryRun)
        let status = api.runCmdFromBuffer(ctx, script)
        // The buffers are reused by the next command: copy them now.
        let output = api.outputBuffer(ctx).map { String(cString: $0) } ?? ""
        let error = api.errorBuffer(ctx).map { String(cString: $0) } ?? ""
        api.setDryRun(ctx, false)
        guard status == 0 else {
            let text = error.trimmingCharacters(in: .whitespacesAndNewlines)
            throw NftablesError(text.isEmpty ? "libnftables failed with status \(status)" : text)
        }
        return output
    }

    private func ctx() throws(NftablesError) -> (API, OpaquePointer) {
        if let api, let context { return (api, context) }
        let api: API
        if let loaded = self.api { api = loaded } else { api = try API.load() }
        self.api = api
        // nft_ctx_new() calls exit() when it cannot open a netlink socket; find out first.
        let probe = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 12 /* NETLINK_NETFILTER */)
        guard probe >= 0 else {
            throw NftablesError("cannot open a netfilter netlink socket: \(String(cString: strerror(errno)))")
        }
        close(probe)
        guard let created = api.ctxNew(API.ctxDefault) else {
            throw NftablesError("nft_ctx_new failed")
        }
        _ = api.bufferOutput(created)
        _ = api.bufferError(created)
        context = created
        return (api, created)
    }

    /// The part of libnftables.h (soname libnftables.so.1) this tool calls.
    struct API {
        static let ctxDefault: UInt32 = 0            // NFT_CTX_DEFAULT
        static let outputHandle: UInt32 = 1 << 3     // NFT_CTX_OUTPUT_HANDLE
        static let outputJSON: UInt32 = 1 << 4       // NFT_CTX_OUTPUT_JSON

        let ctxNew: @convention(c) (UInt32) -> OpaquePointer?
        let ctxFree: @convention(c) (OpaquePointer) -> Void
        let setDryRun: @convention(c) (OpaquePointer, Bool) -> Void
        let outputSetFlags: @convention(c) (OpaquePointer, UInt32) -> Void
        let bufferOutput: @convention(c) (OpaquePointer) -> Int32
        let bufferError: @convention(c) (OpaquePointer) -> Int32
        let outputBuffer: @convention(c) (OpaquePointer) -> UnsafePointer<CChar>?
        let errorBuffer: @convention(c) (OpaquePointer) -> UnsafePointer<CChar>?
        let runCmdFromBuffer: @convention(c) (OpaquePointer, UnsafePointer<CChar>) -> Int32

        static func load() throws(NftablesError) -> API {
            guard let handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else {
                throw NftablesError("cannot load libnftables: \(dlerror().map { String(cString: $0) } ?? "unknown error")")
            }
            func symbol<T>(_ name: String, as type: T.Type) throws(NftablesError) -> T {
                guard let address = dlsym(handle, name) else { throw NftablesError("libnftables has no \(name)") }
                return unsafeBitCast(address, to: type)
            }
            return API(
                ctxNew: try symbol("nft_ctx_new", as: (@convention(c) (UInt32) -> OpaquePointer?).self),
                ctxFree: try symbol("nft_ctx_free", as: (@convention(c) (OpaquePointer) -> Void).self),
                setDryRun: try symbol("nft_ctx_set_dry_run", as: (@convention(c) (OpaquePointer, Bool) -> Void).self),
                outputSetFlags: try symbol("nft_ctx_output_set_flags", as: (@convention(c) (OpaquePointer, UInt32) -> Void).self),
                bufferOutput: try symbol("nft_ctx_buffer_output", as: (@convention(c) (OpaquePointer) -> Int32).self),
                bufferError: try symbol("nft_ctx_buffer_error", as: (@convention(c) (OpaquePointer) -> Int32).self),
                outputBuffer: try symbol("nft_ctx_get_output_buffer", as: (@convention(c) (OpaquePointer) -> UnsafePointer<CChar>?).self),
                errorBuffer: try symbol("nft_ctx_get_error_buffer", as: (@convention(c) (OpaquePointer) -> UnsafePointer<CChar>?).self),
                runCmdFromBuffer: try symbol("nft_run_cmd_from_buffer", as: (@convention(c) (OpaquePointer, UnsafePointer<CChar>) -> Int32).self))
        }
    }
}
