import PortFwdCore
import PortFwdSystem

/// libvirt's network definitions and status files: written by whoever may define networks.
/// Parsed, or refused with one line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let network = try NetworkDefinition(XMLParser.parse(bytes))
        if let bridge = network.bridge, NetworkDefinition.isInterfaceName(bridge) { precondition(bridge.utf8.count <= 15) }
    } catch {
        precondition(error.lines.count == 1 && !error.message.contains("\n"), "a refusal of more than one line")
    }
    return 0
}
