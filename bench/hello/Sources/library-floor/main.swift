// The floor under the watch service's idle RSS: a static FoundationEssentials program that does
// what the service's start cannot avoid (libnftables loaded with dlopen as the tool loads it, the
// network XML read, our table listed as JSON), then sleeps. Whatever the service holds above this
// is ours: code pages, heap. libxml2 is not loaded: since 1cb5ef2 the tool reads XML as plain as
// libvirt writes it without libxml2 (XMLReader), so the floor that loaded it too (13.2 MiB here)
// was one the service no longer stands on. Usage: library-floor NETWORK.xml
import FoundationEssentials
import Glibc

func symbol<T>(_ lib: UnsafeMutableRawPointer, _ name: String, as _: T.Type) -> T {
    guard let found = dlsym(lib, name) else { fatalError("library-floor: no \(name)") }
    return unsafeBitCast(found, to: T.self)
}

guard CommandLine.arguments.count == 2 else { fatalError("usage: library-floor NETWORK.xml") }
guard let nft = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else {
    fatalError("library-floor: \(String(cString: dlerror()))")
}
let network = try Data(contentsOf: URL(filePath: CommandLine.arguments[1]))
guard network.contains(UInt8(ascii: "<")) else { fatalError("library-floor: \(CommandLine.arguments[1]) is not XML") }

typealias CtxNew = @convention(c) (UInt32) -> OpaquePointer?
typealias CtxInt = @convention(c) (OpaquePointer?) -> Int32
typealias CtxFlags = @convention(c) (OpaquePointer?, UInt32) -> Void
typealias CtxBuffer = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
typealias CtxRun = @convention(c) (OpaquePointer?, UnsafePointer<CChar>) -> Int32
let ctx = symbol(nft, "nft_ctx_new", as: CtxNew.self)(0)
_ = symbol(nft, "nft_ctx_buffer_output", as: CtxInt.self)(ctx)
_ = symbol(nft, "nft_ctx_buffer_error", as: CtxInt.self)(ctx)
// JSON, handles, protocols as numbers: the flags the tool lists with.
symbol(nft, "nft_ctx_output_set_flags", as: CtxFlags.self)(ctx, (1 << 4) | (1 << 3) | (1 << 7))
let status = symbol(nft, "nft_run_cmd_from_buffer", as: CtxRun.self)(ctx, "list table inet libvirt_portfwd")
let listing = symbol(nft, "nft_ctx_get_output_buffer", as: CtxBuffer.self)(ctx).map { String(cString: $0) } ?? ""
// The heap given back as the service gives it back once idle: the floor is the libraries', not
// the leftovers of a listing.
// malloc_trim is glibc's, and Swift's Glibc module leaves it out: looked up like the rest.
typealias Trim = @convention(c) (Int) -> Int32
_ = symbol(dlopen(nil, RTLD_NOW)!, "malloc_trim", as: Trim.self)(0)
let ready = "library-floor ready: status \(status), \(listing.utf8.count) bytes listed\n"
_ = ready.withCString { write(2, $0, strlen($0)) }
while true { pause() }
