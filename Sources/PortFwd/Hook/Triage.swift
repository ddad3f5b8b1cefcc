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
/// very same one. Here it reads the state directory through `StateStore`.
public enum Triage {
    ///
    /// The config searched is the file's text and then the config as it last applied: the hook
    /// falls back to that when the file does not parse, so a guest it names may have forwards.
    public static func isNoOp(operation: HookOperation, guest: String, xml: [UInt8], configText: String?, store: StateStore) -> Bool {
        let texts = [configText, store.lastConfig].compactMap { $0 }
        let name = Array(guest.utf8), config = Array(texts.joined().utf8)
        var context = store
        return withUnsafeMutablePointer(to: &context) { storePointer in
            xml.withUnsafeBufferPointer { xml in
                name.withUnsafeBufferPointer { name in
                    config.withUnsafeBufferPointer { config in
                        pf_triage_is_noop(operation.action.code, name.baseAddress, name.count, xml.baseAddress, xml.count,
                                          config.baseAddress, config.count, texts.isEmpty ? 0 : 1, { uuid, context in
                                              guard let uuid, let context, let id = try? DomainUUID(String(cString: uuid)) else { return 1 }
                                              return context.assumingMemoryBound(to: StateStore.self).pointee.has(id) ? 1 : 0
                                          }, storePointer) == 1
                    }
                }
            }
        }
    }
}
