import FoundationEssentials

print("hello from \(ProcessInfo.processInfo.processIdentifier)")
