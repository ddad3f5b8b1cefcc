import PortFwdCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let spec = try? PortSpec.parse(text) {
        precondition((try? PortSpec.parse(spec.description)) == spec, "round trip")
    }
    return 0
}
