import PortFwdCore

/// The package's removal is not the admin saying "off". `flush` records `off`, which holds
/// until the next `apply`; the prerm's `flush --package-removal` also notes here what the mode
/// was, so that configuring the package again (`apply --resume` in the postinst) turns the
/// forwards back on as they were. The state directory is under /run: a reboot forgets both.
extension StateStore {
    var removalPath: String { "\(directory)/mode.before-removal" }

    /// The mode a package removal turned off; nil when none did (or the admin had said `off`).
    public var modeBeforeRemoval: Mode? {
        guard let bytes = try? SafeFile.read(removalPath, limit: 64), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return Mode(rawValue: text.trimmed).flatMap { $0 == .off ? nil : $0 }
    }

    /// Notes `mode` (the one before the removal's flush); `off` or nil clears the note: an
    /// admin's `flush` before the removal stays the admin's word after it.
    public func setModeBeforeRemoval(_ mode: Mode?) throws(PortFwdError) {
        guard let mode, mode != .off else { try SafeFile.remove(removalPath); return }
        try SafeFile.directory(directory, create: true)
        try SafeFile.write(removalPath, Array("\(mode.rawValue)\n".utf8))
    }
}
