import PortFwdCore

/// The config file: the admin's, but it must never crash the hook that reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let config = try? Config.parse(text, file: "fuzz.toml") {
        for guest in config.guests {
            for f in guest.forwards { precondition((try? PortSpec.parse(f.spec.description)) == f.spec) }
        }
    }
    return 0
}
