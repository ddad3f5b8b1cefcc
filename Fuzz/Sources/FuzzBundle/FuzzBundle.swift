import PortFwdCore

/// The config as last applied, read back from the state directory: a bundle reads exactly or
/// is refused, and what reads writes back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let files = try? ConfigFiles(bundle: text, main: "/etc/libvirt/portfwd.toml") {
        precondition((try? ConfigFiles(bundle: files.bundle, main: "/etc/libvirt/portfwd.toml"))?.files == files.files, "a bundle that does not round-trip")
        _ = try? files.parse()
    }
    let legacy = ConfigFiles(legacyBundle: text, main: "/etc/libvirt/portfwd.toml")
    precondition((try? ConfigFiles(bundle: legacy.bundle, main: "/etc/libvirt/portfwd.toml"))?.files == legacy.files, "an upgrade that does not round-trip")
    return 0
}
