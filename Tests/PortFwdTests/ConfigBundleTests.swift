import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// The config as last applied is kept as one bundle of its files (issue 24, item 10): each
/// file length-prefixed, so no line of any file can split it, and the old marker-line bundle
/// is read once, on upgrade.
@Suite struct ConfigBundleTests {
    /// A line that began the way the old bundle marked a file no longer splits the config.
    @Test func aCommentLikeTheOldMarkerDoesNotSplitTheConfig() throws {
        let dir = TempDir()
        dir.write("etc/portfwd.toml", """
            # A note for the next admin:
            #@libvirt-portfwd-file marked files in the bundle of old
            [settings]
            metadata = false

            [[guest]]
            name = "web1"
            forwards = ["8080:80"]
            """)
        let store = StateStore(directory: "\(dir.path)/run")
        let setup = Setup(configPath: "\(dir.path)/etc/portfwd.toml", configRequired: true, store: store, libvirt: LibvirtFiles())
        try store.setLastConfig(try setup.configText())
        // The file becomes unreadable; what applied last is what the hooks and the service use.
        dir.write("etc/portfwd.toml", "[[guest]\n")
        let (reconciler, problem) = setup.reconcilerAsLastApplied()
        #expect(problem == nil)
        #expect(reconciler.config.settings.metadata == false)
        // The expected value first: Debian's Swift 6.0.3 refuses a `try` inside #expect's array literal.
        let expected = [[try PortSpec.parse("8080:80")]]
        #expect(reconciler.config.guests.map { $0.forwards.map(\.spec) } == expected)
        let (tolerant, why) = setup.tolerantReconciler()
        #expect(why?.contains("using the config as it last applied") == true)
        #expect(tolerant.config.guests.count == 1)
    }

    /// Any files, whatever their bytes (lines like headers, no final newline, empty, non-ASCII),
    /// come back from a bundle exactly.
    @Test func anyFilesComeBackExactly() throws {
        var g = ReaderShapes()
        print("ConfigBundleTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        let pieces = ["[[guest]]\n", "#@libvirt-portfwd-file /etc/x.toml\n", "file 3 4\n", "libvirt-portfwd config bundle 1\n", "é", "\n",
            "\r\n", "", "name = \"a\""]
        for round in 0..<300 {
            let files = (0..<(1 + g.below(4))).map { n in
                ConfigFiles.File(path: n == 0
                                    ? "/etc/libvirt/portfwd.toml" : "/etc/libvirt/portfwd.d/\(g.pick(["a", "é", "x y", "file 1 2"]))\(n).toml",
                                 text: (0..<g.below(12)).map { _ in g.pick(pieces) }.joined())
            }
            let bundle = ConfigFiles(files).bundle
            #expect(try ConfigFiles(bundle: bundle, main: files[0].path).files == files, "seed \(g.seed) round \(round)")
        }
    }

    /// A bundle that does not read exactly is refused with why, not half-read.
    @Test(arguments: ["", "#@libvirt-portfwd-file /x\n", "libvirt-portfwd config bundle 1\n",
        "libvirt-portfwd config bundle 1\nfile 5 3\n/a.tomlabc\n",
                      "libvirt-portfwd config bundle 1\nfile 2 99999999999\n/aab\n", "libvirt-portfwd config bundle 1\nfile 2 1\n/ax\nfile"])
    func aDamagedBundleIsRefused(text: String) {
        let error = expectError(PortFwdError.self) { try ConfigFiles(bundle: text, main: "/m.toml") }
        #expect(error?.message.hasPrefix("the config as last applied is not a config bundle (") == true, "\(error?.message ?? "")")
    }

    /// Upgrading: the old `config.last` is read (converted) until the next apply, which writes
    /// `config.applied` and removes it; a rollback puts both back as they were.
    @Test func theOldBundleIsReadOnceOnUpgrade() throws {
        let dir = TempDir()
        let store = StateStore(directory: "\(dir.path)/run")
        try SafeFile.directory(store.directory, create: true)
        let legacy = "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n\n#@libvirt-portfwd-file "
            + "/etc/libvirt/portfwd.d/web2.toml\n[[guest]]\nname = \"web2\"\n"
        try SafeFile.write("\(store.directory)/config.last", Array(legacy.utf8))
        let read = try ConfigFiles(bundle: try #require(store.lastConfig), main: "/etc/libvirt/portfwd.toml")
        #expect(read.files.map(\.path) == ["/etc/libvirt/portfwd.toml", "/etc/libvirt/portfwd.d/web2.toml"])
        #expect(read.files.first?.text == "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        #expect(try read.parse().guests.map(\.name?.value) == ["web1", "web2"])

        let snapshot = store.snapshot([])
        let fresh = ConfigFiles([.init(path: "/etc/libvirt/portfwd.toml", text: "[[guest]]\nname = \"web3\"\n")]).bundle
        try store.setLastConfig(fresh)
        #expect(!FileManager.default.fileExists(atPath: "\(store.directory)/config.last"))
        #expect(store.lastConfig == fresh)
        #expect(store.restore(snapshot).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(store.directory)/config.applied"))
        #expect(try String(contentsOfFile: "\(store.directory)/config.last", encoding: .utf8) == legacy)
    }

    /// The config's files together are held to the bundle's limit, naming the file that
    /// crossed it: the state directory could not keep more.
    @Test func theFilesTogetherAreBounded() throws {
        let dir = TempDir()
        let chunk = "# " + String(repeating: "x", count: ConfigFiles.maximumSize / 3) + "\n"
        dir.write("etc/portfwd.toml", chunk)
        try FileManager.default.createDirectory(atPath: "\(dir.path)/etc/portfwd.d", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        for name in ["a", "b"] {
            dir.write("etc/portfwd.d/\(name).toml", chunk)
            chmod("\(dir.path)/etc/portfwd.d/\(name).toml", 0o600)
        }
        let setup = Setup(configPath: "\(dir.path)/etc/portfwd.toml", configRequired: true, store: StateStore(directory: "\(dir.path)/run"),
            libvirt: LibvirtFiles())
        let error = expectError(PortFwdError.self) { try setup.configText() }
        #expect(error?.message == "\(dir.path)/etc/portfwd.d/b.toml: the config and its drop-ins hold more than 16 MiB together; refusing to "
            + "read further")
    }

    /// A config as last applied that does not read (damaged, or from a version with other
    /// limits): repairs use the file's config without recording it as applied, and when the
    /// file does not read either, metadata forwards only; each time saying why.
    @Test func anUnreadableLastAppliedConfigIsNeverTrusted() throws {
        let dir = TempDir()
        let store = StateStore(directory: "\(dir.path)/run")
        try SafeFile.directory(store.directory, create: true)
        try SafeFile.write("\(store.directory)/config.applied", Array("libvirt-portfwd config bundle 1\nfile 3 9\n/x".utf8))
        dir.write("etc/portfwd.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n")
        let setup = Setup(configPath: "\(dir.path)/etc/portfwd.toml", configRequired: true, store: store, libvirt: LibvirtFiles())
        let (repairs, why) = setup.reconcilerAsLastApplied()
        #expect(repairs.config.guests.count == 1)
        #expect(repairs.configText == nil, "a repair never records the file's config as applied")
        #expect(why?.hasPrefix("(as last applied) the config as last applied is not a config bundle (a file is cut short at byte ") == true,
            "\(why ?? "")")
        dir.write("etc/portfwd.toml", "[[guest]\n")
        let (none, problem) = setup.tolerantReconciler()
        #expect(none.config.guests.isEmpty)
        #expect(problem?.contains("the config as it last applied does not read either (") == true, "\(problem ?? "")")
    }
}
