// The floor under the watch service's idle RSS: a static FoundationEssentials program that does
// what the service's start cannot avoid (libnftables and libxml2 loaded with dlopen as the tool
// loads them, the network XML parsed, our table listed as JSON), then sleeps. Whatever the service
// holds above this is ours: code pages, heap. Usage: library-floor NETWORK.xml
import FoundationEssentials
import Glibc

func symbol<T>(_ lib: UnsafeMutableRawPointer, _ name: String, as _: T.Type) -> T {
    guard let found = dlsym(lib, name) else { fatalError("library-floor: no \(name)") }
    return unsafeBitCast(found, to: T.self)
}

guard CommandLine.arguments.count == 2 else { fatalError("usage: library-floor NETWORK.xml") }
guard let nft = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL), let xml = dlopen("libxml2.so.2", RTLD_NOW | RTLD_LOCAL) else {
    fatalError("library-floor: \(String(cString: dlerror()))")
}

typealias XMLInit = @convention(c) () -> Void
typealias XMLRead = @convention(c) (UnsafePointer<CChar>, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32) -> OpaquePointer?
typealias XMLFree = @convention(c) (OpaquePointer?) -> Void
symbol(xml, "xmlInitParser", as: XMLInit.self)()
let network = try Data(contentsOf: URL(filePath: CommandLine.arguments[1]))
let document = network.withUnsafeBytes { bytes in
    symbol(xml, "xmlReadMemory", as: XMLRead.self)(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil, nil, 0)
}
symbol(xml, "xmlFreeDoc", as: XMLFree.self)(document)

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
