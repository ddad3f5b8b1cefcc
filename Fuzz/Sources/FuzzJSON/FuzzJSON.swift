import PortFwdReaders
import PortFwdSystem

/// The JSON reader of nft's listings and libvirt's lease files: any bytes end in a value or a
/// refusal naming a byte inside the document, within the depth asked for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for depth in [3, JSONValue.maximumDepth] {
        do {
            _ = try JSONValue.parse(bytes, depth: depth)
        } catch {
            let at = error.reason.split(separator: " ").last.flatMap { Int($0) }
            precondition(at.map { $0 >= 0 && $0 <= bytes.count } ?? false, "a refusal that names no byte of the document: \(error.reason)")
            precondition(!error.reason.contains("\n"), "a refusal of more than one line")
        }
    }
    return 0
}
