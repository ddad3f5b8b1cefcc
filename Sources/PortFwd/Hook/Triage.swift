import CHookTriage
import PortFwdCore
import PortFwdSystem

/// Decides, without parsing TOML or XML, that a qemu hook event cannot concern any forward.
/// libvirtd waits for the hook five times per guest lifecycle, and most guests have no
/// forwards; this keeps their hook calls close to a process start. It only ever answers
/// "no-op" when that is certain; anything unusual goes down the full path.
///
/// The decision is CHookTriage's `pf_triage_is_noop`, in C so that the hook's front door
/// (CFrontDoor), which answers most of these calls before the Swift runtime starts, makes the
/// very same one. It asks for the state directory's record and for the config only when it
/// comes to them; here they are read through `StateStore`.
public enum Triage {
    /// The config searched is the file's text and then the config as it last applied: the hook
    /// falls back to that when the file does not parse, so a guest it names may have forwards.
    public static func isNoOp(operation: HookOperation, guest: String, xml: [UInt8], configText: String?, store: StateStore) -> Bool {
        let answers = Answers(store: store, configText: configText)
        let name = Array(guest.utf8)
        let context = Unmanaged.passUnretained(answers).toOpaque()
        let questions = pf_triage_questions(
            has_record: { uuid, context in
                guard let uuid, let context, let id = try? DomainUUID(String(cString: uuid)) else { return 1 }
                return Unmanaged<Answers>.fromOpaque(context).takeUnretainedValue().store.has(id) ? 1 : 0
            },
            config: { text, length, context in
                guard let text, let length, let context else { return -1 }
                let answers = Unmanaged<Answers>.fromOpaque(context).takeUnretainedValue()
                guard let bytes = answers.config() else { return 0 }
                text.pointee = UnsafePointer(bytes.baseAddress)
                length.pointee = bytes.count
                return 1
            },
            context: context)
        return withExtendedLifetime(answers) {
            xml.withUnsafeBufferPointer { xml in
                name.withUnsafeBufferPointer { name in
                    pf_triage_is_noop(operation.action.code, name.baseAddress, name.count, xml.baseAddress, xml.count, questions) == 1
                }
            }
        }
    }

    /// What the decision may ask for; the config's bytes stay here until it returns.
    private final class Answers {
        let store: StateStore
        let configText: String?
        private var bytes: UnsafeMutableBufferPointer<UInt8>?

        init(store: StateStore, configText: String?) {
            self.store = store
            self.configText = configText
        }

        /// The file's text, then the config as it last applied; nil when there is neither.
        func config() -> UnsafeMutableBufferPointer<UInt8>? {
            let texts = [configText, store.lastConfig].compactMap { $0 }
            guard !texts.isEmpty else { return nil }
            let joined = Array(texts.joined().utf8)
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(joined.count, 1))
            _ = buffer.initialize(from: joined)
            bytes?.deallocate()
            bytes = buffer
            return UnsafeMutableBufferPointer(rebasing: buffer[..<joined.count])
        }

        deinit { bytes?.deallocate() }
    }
}
