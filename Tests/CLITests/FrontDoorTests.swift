import CFrontDoor
import CHookTriage
import Foundation
import Testing
@testable import libvirt_portfwd
import PortFwd
import PortFwdCore
import PortFwdSystem

/// The hook's front door (CFrontDoor) answers before the Swift runtime starts, so it reads the
/// command line, the config and the state directory in C. It may decline anything; it may
/// never say "no-op" where the Swift hook would have acted. Held here against the Swift hook's
/// own decision (`Hook.isNoOp`, on `Hook.qemu`'s parse) over random files, command lines and
/// XML, and shown not to be hollow: where the front door reads what the Swift hook reads, the
/// two verdicts agree.
@Suite struct FrontDoorTests {
    let dir = TempDir()
    let uuid = "0a0b0c0d-0000-4000-8000-000000000099"

    /// The front door's verdict on `argv`, with `stdin` as its stdin; what it read of stdin.
    func frontDoor(_ argv: [String], stdin: [UInt8]) -> (noop: Bool, read: [UInt8]?, complete: Bool) {
        let input = "\(dir.path)/stdin"
        #expect(FileManager.default.createFile(atPath: input, contents: Data(stdin)), "stdin's file written")
        let fd = open(input, O_RDONLY)
        defer { close(fd) }
        var words = argv.map { strdup($0) }
        words.append(nil)
        defer { words.forEach { free($0) } }
        var out = pf_front_door_stdin()
        let verdict = words.withUnsafeMutableBufferPointer { pf_front_door_decide(Int32(argv.count), $0.baseAddress, environ, fd, &out) }
        defer { free(out.bytes) }
        let read = out.taken == 1 ? out.bytes.map { Array(UnsafeBufferPointer(start: $0, count: out.count)) } ?? [] : nil
        return (verdict == Int32(PF_FRONT_DOOR_NOOP.rawValue), read, out.complete == 1)
    }

    /// The Swift hook's verdict on the same command line: nil when it would not even parse it
    /// (a usage error, or help), else whether it would return before doing anything.
    func swiftHook(_ argv: [String], stdin: [UInt8]) -> Bool? {
        let words = Array(argv.dropFirst(3))
        let options = words.prefix { $0 != "--" }
        guard !options.contains(where: { ["--help", "-h", "--version", "-V"].contains($0) }),
              let arguments = try? Hook.qemu.parse(words) else { return nil }
        let setup = Hook.options(arguments).setup
        return Hook.isNoOp(arguments, xml: stdin, setup: setup, text: Hook.configText(setup))
    }

    func domain(_ rng: inout SplitMix) -> [UInt8] {
        let id = [uuid, uuid.uppercased(), " \n\(uuid)\t", "not-a-uuid", "0a0b0c0d00004000800000000000009"].randomElement(using: &rng)!
        let metadata = ["", "<metadata><forwards xmlns='urn:libvirt-portfwd:1'/></metadata>", "<metadata><x xmlns='urn:other'/></metadata>",
                        "<description>&lt;uuid&gt;11111111-2222-3333-4444-555555555555</description>"].randomElement(using: &rng)!
        let shapes = [
            "<domain type='kvm'><name>plain</name><uuid>\(id)</uuid>\(metadata)</domain>",
            "<domainx><uuid>\(id)</uuid></domainx>",
            "<domain><name>plain</name>\(metadata)</domain>",
            "<domain>\n<uuid>\(id)</uuid>\(metadata)\n</domain>",
            "",
        ]
        return Array(shapes.randomElement(using: &rng)!.utf8)
    }

    /// The files one case reads, made afresh: the config, its drop-in directory, the state.
    func files(_ rng: inout SplitMix, guest: String) throws -> (config: String, state: String) {
        let root = "\(dir.path)/case"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: "\(root)/state", withIntermediateDirectories: true)
        // A path whose last `/` a zero-width joiner joins into another Character: the Swift
        // hook's drop-in directory is then the one beside `sub`, not inside it.
        let config = rng.next() % 8 == 0 ? "\(root)/sub/\u{200D}portfwd.toml" : "\(root)/portfwd.toml"
        try FileManager.default.createDirectory(atPath: "\(root)/sub", withIntermediateDirectories: true)
        let other = "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n"
        switch rng.next() % 14 {
        case 0: break // absent, and named by --config: required
        case 1: try Data([0x5b, 0xff, 0xfe]).write(to: URL(fileURLWithPath: config))
        case 2: try write(config, other + "# a\\b\n")
        case 3: try write(config, other + "[[guest]]\nname = \"\(guest)\"\n")
        case 4: try write(config, other + "# uuid \(uuid.uppercased())\n")
        case 5: try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: false)
        case 6:
            dir.write("case/real.toml", other)
            try FileManager.default.createSymbolicLink(atPath: config, withDestinationPath: "\(root)/real.toml")
        case 7: try write(config, "")
        case 8: try write(config, "[[guest]\nname = \"other\"\n") // does not parse
        default: try write(config, other + "# café ☕\n")
        }
        switch rng.next() % 12 {
        case 1: try FileManager.default.createDirectory(atPath: "\(root)/portfwd.d", withIntermediateDirectories: false)
        case 2: dir.write("case/portfwd.d/10-more.toml", "[[guest]]\nname = \"web2\"\n")
        case 3: dir.write("case/portfwd.d/.hidden.toml", "[[guest]]\nname = \"web2\"\n")
        case 4: dir.write("case/portfwd.d/README", "not a drop-in")
        case 5:
            try FileManager.default.createDirectory(atPath: "\(root)/portfwd.d", withIntermediateDirectories: false)
            chmod("\(root)/portfwd.d", 0o777)
        case 6: dir.write("case/portfwd.d/10-\(guest).toml", "[[guest]]\nname = \"\(guest)\"\nforwards = [\"80\"]\n")
        default: break
        }
        // The config as it last applied, which the hook falls back to when the file does not
        // parse; and its older name.
        let named = "libvirt-portfwd config bundle 1\nfile 1 30\n/[[guest]]\nname = \"\(guest)\"\n\n"
        switch rng.next() % 8 {
        case 0: try write("\(root)/state/config.applied", named)
        case 1: try write("\(root)/state/config.applied", "libvirt-portfwd config bundle 1\n")
        case 2:
            try write("\(root)/state/config.applied", named)
            chmod("\(root)/state/config.applied", 0o666)
        case 3:
            try write("\(root)/real.applied", named)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/state/config.applied", withDestinationPath: "\(root)/real.applied")
        case 4: try write("\(root)/state/config.last", "[[guest]]\nname = \"\(guest)\"\n")
        default: break
        }
        if rng.next() % 3 == 0 {
            try StateStore(directory: "\(root)/state").save(RunningGuest(uuid: try DomainUUID(uuid), name: try GuestName("plain"),
                                                                         address4: IPAddress("192.168.122.10")))
        }
        return (config, "\(root)/state")
    }

    func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func commandLine(_ rng: inout SplitMix, config: String, state: String, guest: String, operation: String) -> (argv: [String], plain: Bool) {
        var options = [["--config", config], ["--state-dir", state]]
        if rng.next() % 2 == 0 { options.append(["--backend", "nftables"]) }
        if rng.next() % 3 == 0 { options.append(["--iptables", "nft"]) }
        options.shuffle(using: &rng)
        var words = options.flatMap { rng.next() % 2 == 0 ? $0 : ["\($0[0])=\($0[1])"] }
        let libvirt = [guest, operation, "begin", "-"]
        var plain = true
        switch rng.next() % 20 {
        case 0: words += libvirt + ["--config", config]; plain = false                // no `--`: options after words
        case 1: words += ["--"] + libvirt + ["extra"]; plain = false                 // five words
        case 2: words += ["--"] + libvirt.dropLast(); plain = false                  // three
        case 3: words = ["--libvirt-root", dir.path] + words + ["--"] + libvirt; plain = false
        case 4: words = ["--backend", "bogus"] + words + ["--"] + libvirt; plain = false
        case 5: words = ["--config", "--help"] + words + ["--"] + libvirt; plain = false
        case 6: words = ["--config=\(state)"] + words + ["--"] + libvirt; plain = false  // given twice
        case 7: words = ["--backend=\u{301}nftables"] + words + ["--"] + libvirt; plain = false // `=` joined to a mark
        default: words += ["--"] + libvirt
        }
        return (["libvirt-portfwd", "hook", "qemu"] + words, plain)
    }

    @Test func theFrontDoorNeverSaysNoOpWhereTheHookWouldNot() throws {
        var rng = SplitMix.printed("theFrontDoorNeverSaysNoOpWhereTheHookWouldNot")
        var noops = 0, agreed = 0
        for round in 0..<1000 {
            let guest = ["plain", "web1", "café", "a-b.c_d", "-x", ""].randomElement(using: &rng)!
            let operation = ["prepare", "start", "stopped", "release", "reconnect", "attach", "started", "migrate", "", "PREPARE"]
                .randomElement(using: &rng)!
            let (config, state) = try files(&rng, guest: guest)
            let (argv, plainLine) = commandLine(&rng, config: config, state: state, guest: guest, operation: operation)
            let stdin = domain(&rng)
            let c = frontDoor(argv, stdin: stdin)
            let swift = swiftHook(argv, stdin: stdin)
            let context = "round \(round): \(argv.dropFirst(3).joined(separator: " ")) on \(String(decoding: stdin, as: UTF8.self))"
            if let read = c.read { #expect(read == stdin && c.complete, "\(context): stdin handed on as read") }
            if c.noop {
                noops += 1
                #expect(swift == true, "\(context): the front door said no-op, the hook would not")
            }
            // Where it reads what the hook reads (the shim's line, one regular config file of
            // UTF-8 text, no drop-in), it says what the hook says.
            var st = stat(), dropIns = false
            if let names = try? FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/case/portfwd.d") {
                dropIns = names.contains { $0.hasSuffix(".toml") } || stat("\(dir.path)/case/portfwd.d", &st) == 0 && st.st_mode & 0o022 != 0
            }
            let readable = (try? String(contentsOfFile: config, encoding: .utf8)) != nil && !guest.isEmpty
            let legacy = FileManager.default.fileExists(atPath: "\(dir.path)/case/state/config.last")
            if plainLine && readable && !dropIns && config.utf8.allSatisfy({ $0 < 0x80 }) && !legacy {
                #expect(c.noop == (swift == true), "\(context): the two verdicts differ")
                agreed += 1
            }
        }
        print("front door: \(noops) no-ops, \(agreed) cases read alike")
        #expect(noops >= 50 && agreed >= 120, "\(noops) no-ops, \(agreed) cases read alike")
    }

    /// The Swift hook reads paths and option words as Characters: a zero-width joiner or a
    /// combining mark after `/` or `=` joins it into another Character, so its `/` is no
    /// separator and its `=` no `=`. The front door, reading bytes, declines all of those.
    @Test func wordsTheSwiftHookReadsAsOtherCharactersAreDeclined() throws {
        let root = "\(dir.path)/joined"
        try FileManager.default.createDirectory(atPath: "\(root)/sub", withIntermediateDirectories: true)
        let xml = Array("<domain><name>web1</name><uuid>\(uuid)</uuid></domain>".utf8)
        for mark in ["\u{200D}", "\u{301}"] {
            let config = "\(root)/sub/\(mark)portfwd.toml"
            try write(config, "# main\n")
            // The Swift hook's drop-ins are beside `sub`, and name the guest.
            let dropIns = ConfigFile.dropInDirectory(of: config)
            #expect(dropIns == "\(root)/portfwd.d", "\(dropIns)")
            try FileManager.default.createDirectory(atPath: dropIns, withIntermediateDirectories: true)
            try write("\(dropIns)/web1.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
            for line in [["--config", config], ["--config=\(config)"]] {
                let argv = ["x", "hook", "qemu"] + line + ["--state-dir", "\(root)/state", "--", "web1", "start", "begin", "-"]
                #expect(swiftHook(argv, stdin: xml) == false)
                #expect(!frontDoor(argv, stdin: xml).noop, "\(argv)")
            }
            try FileManager.default.removeItem(atPath: dropIns)
        }
        // `--config=` with a mark after `=`: to the Swift hook, an unknown option.
        try write("\(root)/\u{301}p.toml", "")
        let argv = ["x", "hook", "qemu", "--config=\u{301}p.toml", "--state-dir", "\(root)/state", "--", "web1", "stopped", "end", "-"]
        #expect(swiftHook(argv, stdin: xml) == nil)
        #expect(!frontDoor(argv, stdin: xml).noop)
    }

    /// Whatever the operation, stdin is read to its end, and the part past the hook's limit
    /// is dropped as the Swift hook drops it.
    @Test func stdinPastTheLimitIsDrainedAndMarked() throws {
        let state = "\(dir.path)/state"
        dir.write("c.toml", "")
        let big = [UInt8](repeating: 0x20, count: Int(PF_HOOK_STDIN_LIMIT) + 70_000)
        let c = frontDoor(["x", "hook", "qemu", "--config", "\(dir.path)/c.toml", "--state-dir", state, "--", "plain", "started", "-", "-"],
                          stdin: big)
        #expect(c.noop)
        #expect(c.read.map(\.count) == Int(PF_HOOK_STDIN_LIMIT) && !c.complete)
        #expect(Int(PF_HOOK_STDIN_LIMIT) == XMLParser.maximumSize)
    }

    /// Any other command: the front door reads nothing and answers nothing.
    @Test func otherCommandsPassUntouched() {
        for argv in [["x"], ["x", "apply", "--all"], ["x", "hook", "network", "--", "default", "started", "begin", "-"], ["x", "hook"],
                     ["x", "--config", "/dev/null", "hook", "qemu", "--", "plain", "prepare", "begin", "-"]] {
            let c = frontDoor(argv, stdin: Array("<domain/>".utf8))
            #expect(!c.noop && c.read == nil, "\(argv)")
        }
    }

    /// The binary itself: a no-op ends with nothing said and nothing written; a declined
    /// event gets the bytes the front door read (the guest's metadata is read from them).
    @Test func theBinaryAnswersANoOpAndHandsOnWhatItDeclines() throws {
        let state = "\(dir.path)/state"
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        let xml = "<domain><name>plain</name><uuid>\(uuid)</uuid></domain>"
        let noop = Shell.capture("\(Paths.binary) hook qemu --config \(dir.path)/c.toml --state-dir \(state) -- plain prepare begin -", input: xml)
        #expect(noop.status == 0 && noop.stdout.isEmpty && noop.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: state))
        // Metadata with a bad spec: the Swift hook reads it from what the front door read, and
        // says so on stderr.
        let meta = "<domain><name>plain</name><uuid>\(uuid)</uuid><metadata><forwards xmlns='urn:libvirt-portfwd:1'>"
            + "<forward spec='0'/></forwards></metadata></domain>"
        let declined = Shell.capture("\(Paths.binary) hook qemu --config \(dir.path)/c.toml --state-dir \(state) -- plain prepare begin -",
                                     input: meta)
        let direct = Shell.capture("\(Paths.binary) hook qemu plain prepare begin - --config \(dir.path)/c.toml --state-dir \(state)",
                                   input: meta)
        #expect(declined.status == direct.status && declined.stdout == direct.stdout && declined.stderr == direct.stderr)
        #expect(declined.stderr.contains("metadata <forward> #1: bad port spec '0'"), "the Swift hook read the metadata: \(declined.stderr)")
    }
}
