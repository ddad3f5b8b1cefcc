import Testing
import PortFwdCore
import PortFwdSystem

@Suite struct ConfigTests {
    let full = """
        [settings]
        backend = "auto"
        admission = "iptables"
        mark = 0x20000000
        hairpin = false
        host-access = false
        metadata = false
        metadata-host-ports = ["1024-65535", "80"]

        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = ["8080:80", "2222:22", { spec = "5353/udp", sources = ["203.0.113.0/24"] }]
        sources = ["198.51.100.0/24"]

        [[guest]]
        uuid = "6F1F1B2C-8D7E-4C5B-9A3E-1B2C3D4E5F60"
        forwards = ["9000"]
        """

    @Test func readsEveryKey() throws {
        let config = try Config.parse(full, file: "portfwd.toml")
        let s = config.settings
        #expect(s.admission == .iptables)
        #expect(s.mark.value == 0x2000_0000)
        #expect(!s.hairpin && !s.hostAccess && !s.metadata)
        #expect(s.metadataHostPorts == [PortRange(1024, 65535)!, PortRange(port: 80)!])
        #expect(config.guests.count == 2)
        let web = config.guests[0]
        #expect(web.name?.value == "web1")
        #expect(web.address4?.description == "192.168.122.10")
        #expect(web.address6?.description == "fd00:122::10")
        #expect(web.forwards.map(\.description) == [
            "8080:80/tcp from 198.51.100.0/24", "2222:22/tcp from 198.51.100.0/24", "5353:5353/udp from 203.0.113.0/24",
        ])
        #expect(config.guests[1].uuid?.value == "6f1f1b2c-8d7e-4c5b-9a3e-1b2c3d4e5f60")
    }

    @Test func emptyFileIsValidWithDefaults() throws {
        let config = try Config.parse("")
        #expect(config.guests.isEmpty)
        #expect(config.settings == Settings())
        #expect(config.settings.mark.description == "0x10000000")
    }

    @Test func syntaxErrorsNameTheLine() {
        let error = expectError(PortFwdError.self) { try Config.parse("[settings]\nhairpin = true\nmark = = 3\n", file: "/etc/x.toml") }
        #expect(error?.lines.count == 1)
        #expect(error?.description.hasPrefix("/etc/x.toml: line 3, column ") == true, "\(String(describing: error))")
    }

    @Test(arguments: [
        ("[settings]\ncolour = \"blue\"\n", "f.toml: line 2: settings.colour: unknown key"),
        ("[setting]\n", "f.toml: line 1: setting: unknown key; did you mean 'settings'? (expected [settings] or [[guest]])"),
        ("[settings]\nbackend = \"pf\"\n", "f.toml: line 2: settings.backend: 'pf' is not one of auto, nftables, iptables"),
        ("[settings]\nadmission = \"maybe\"\n", "f.toml: line 2: settings.admission: 'maybe' is not one of auto, iptables, libvirt-nftables, none"),
        ("[settings]\nmark = 3\n", "f.toml: settings.mark: mark must be a single bit such as 0x10000000, not 3"),
        ("[settings]\nmark = \"0x1\"\n", "f.toml: settings.mark: must be an integer such as 0x10000000"),
        ("[settings]\nhairpin = \"yes\"\n", "f.toml: settings.hairpin: must be true or false"),
        ("[settings]\nmetadata-host-ports = [\"80-70\"]\n", "f.toml: line 2: settings.metadata-host-ports[0]: range 80-70 is reversed"),
        ("[[guest]]\nname = \"a\"\nadress = \"192.168.122.10\"\n", "f.toml: line 3: guest[0].adress: unknown key; did you mean 'address'?"),
        ("[[guest]]\naddress = \"192.168.122.10\"\n", "f.toml: guest[0]: needs a name or a uuid"),
        ("[[guest]]\nname = \"a\"\naddress = \"192.168.122.300\"\n", "f.toml: line 3: guest[0].address: '192.168.122.300' is not an IPv4 address"),
        ("[[guest]]\nname = \"a\"\naddress6 = \"192.168.122.3\"\n", "f.toml: line 3: guest[0].address6: '192.168.122.3' is not an IPv6 address"),
        ("[[guest]]\nname = \"a\"\naddress = \"127.0.0.1\"\n", "f.toml: line 3: guest[0].address: 127.0.0.1 is a loopback address, which cannot be a "
            + "guest address"),
        ("[[guest]]\nname = \"a\"\naddress = \"169.254.169.254\"\n", "f.toml: line 3: guest[0].address: 169.254.169.254 is a link-local address, "
            + "which cannot be a guest address"),
        ("[[guest]]\nname = \"a\"\naddress6 = \"::ffff:127.0.0.1\"\n", "f.toml: line 3: guest[0].address6: ::ffff:127.0.0.1 is a loopback address, "
            + "which cannot be a guest address"),
        ("[settings]\nmetadata-address = \"anywhere\"\n", "f.toml: line 2: settings.metadata-address: 'anywhere' is not one of "
            + "interface-network, any"),
        ("[settings]\nmetadata-max-ports = -1\n", "f.toml: settings.metadata-max-ports: must be a whole number, 0 or more"),
        ("[settings]\nfloating-addresses = [\"127.0.0.1\"]\n", "f.toml: line 2: settings.floating-addresses[0]: host address 127.0.0.1 is loopback: "
            + "forwarding from it needs route_localnet, which would let neighbours reach the guest through 127.0.0.0/8; bind to a real address "
            + "or to none"),
        ("[[guest]]\nname = \"a\"\nuuid = \"nope\"\n", "f.toml: line 3: guest[0].uuid: 'nope' is not a UUID"),
        ("[[guest]]\nname = \"a\"\nsources = [\"203.0.113.9/24\"]\n", "f.toml: line 3: guest[0].sources[0]: '203.0.113.9/24' has host bits set; did "
            + "you mean 203.0.113.0/24?"),
        ("[[guest]]\nname = \"a\"\nsources = []\n", "f.toml: guest[0].sources: is empty, which would allow nobody; remove the key to allow everyone"),
        ("[[guest]]\nname = \"a\"\n[[guest]]\nname = \"b\"\nforwards = [\"80\", \"8080:0\"]\n",
         "f.toml: line 5: guest[1].forwards[1]: bad port spec '8080:0': port 0 is not allowed"),
        ("[[guest]]\nname = \"a\"\nforwards = [{ spec = \"80\", source = [\"203.0.113.0/24\"] }]\n",
         "f.toml: line 3: guest[0].forwards[0].source: unknown key; did you mean 'sources'? (expected spec or sources)"),
        ("[[guest]]\nname = \"a\"\nforwards = [{ sources = [\"203.0.113.0/24\"] }]\n", "f.toml: guest[0].forwards[0]: missing spec"),
        ("[[guest]]\nname = \"a\"\nforwards = [80]\n", "f.toml: guest[0].forwards[0]: must be a port spec string or { spec = \"...\", sources "
            + "= [...] }"),
        ("[[guest]]\nname = \"a\"\n[[guest]]\nname = \"a\"\n", "f.toml: guest[1]: same domain name a as guest[0]; merge the two [[guest]] tables"),
        ("[guest]\nname = \"a\"\n", "f.toml: guest: must be an array of tables: write [[guest]]"),
    ] as [(String, String)])
    func semanticErrorsNameTheKeyPath(text: String, message: String) {
        let error = expectError(PortFwdError.self) { try Config.parse(text, file: "f.toml") }
        #expect(error?.description == message)
    }

    @Test func reportsEveryProblemOneLineEach() {
        let text = "[settings]\nhairpin = 1\n[[guest]]\nname = \"a\"\nforwards = [\"0\", \"70000\"]\n"
        let error = expectError(PortFwdError.self) { try Config.parse(text, file: "f.toml") }
        #expect(error?.lines.count == 3)
        #expect(error?.description.split(separator: "\n").count == 3)
    }

    @Test func forwardSourcesReplaceGuestSources() throws {
        let config = try Config.parse("""
            [[guest]]
            name = "a"
            sources = ["198.51.100.0/24"]
            forwards = ["80", { spec = "81", sources = ["203.0.113.0/24"] }]
            """)
        #expect(config.guests[0].forwards.map { $0.sources.map(\.description) } == [["198.51.100.0/24"], ["203.0.113.0/24"]])
    }

    @Test func missingDefaultFileIsEmptyButExplicitOneIsAnError() throws {
        let missing = "/nonexistent/portfwd.toml"
        #expect(try ConfigFile.load(path: missing, required: false).guests.isEmpty)
        #expect(throws: PortFwdError(.notFound, "\(missing): cannot read the file: No such file or directory")) {
            try ConfigFile.load(path: missing, required: true)
        }
    }
}

/// The config reader never silently drops or misreads text (hardening issue, class 6).
@Suite struct ConfigReadingTests {
    // NUL bytes and \u0000 escapes: TOMLLimitsTests.aNULInAValueIsRefusedWhereItStands.

    @Test func anEscapedBackslashBeforeU0000IsNotAnEscape() throws {
        let config = try Config.parse("[[guest]]\nname = \"a\\\\u0000\"\n", file: "f.toml")
        #expect(config.guests.first?.name?.value == "a\\u0000")
    }

    /// An entry naming the UUID and one naming the name both apply to the domain both match,
    /// wherever they stand; another domain of the name gets the name's entry alone.
    @Test func anEntryNamingTheUUIDAndOneNamingTheNameBothApply() throws {
        let uuid = "6f1f1b2c-8d7e-4c5b-9a3e-1b2c3d4e5f60"
        for order in [["name", "uuid"], ["uuid", "name"]] {
            let entries = order.map { key in
                key == "name" ? "[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n" : "[[guest]]\nuuid = \"\(uuid)\"\nforwards = [\"81\"]\n"
            }
            let config = try Config.parse(entries.joined())
            let entry = config.guest(named: try GuestName("web1"), uuid: try DomainUUID(uuid))
            #expect(entry?.forwards.map(\.spec.description) == ["81:81/tcp", "80:80/tcp"], "\(order)")
            // Another domain of that name (redefined, new UUID) gets the name entry.
            let other = config.guest(named: try GuestName("web1"), uuid: try DomainUUID("00000000-0000-4000-8000-000000000001"))
            #expect(other?.forwards.map(\.spec.description) == ["80:80/tcp"])
        }
    }

    /// Every bad value gets its own line number (found in one pass over the file; bench measures it).
    @Test func tenThousandBadValuesAreEachReportedWithTheirLine() throws {
        let specs = (0..<10_000).map { "\"\(70_000 + $0)\"" }.joined(separator: ",\n")
        let text = "[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\n\(specs)\n]\n"
        let error = expectError(PortFwdError.self) { try Config.parse(text, file: "f.toml") }
        #expect(error?.lines.count == 10_000)
        #expect(error?.lines.first == "f.toml: line 5: guest[0].forwards[0]: bad port spec '70000': port 70000 is over 65535")
        #expect(error?.lines.last == "f.toml: line 10004: guest[0].forwards[9999]: bad port spec '79999': port 79999 is over 65535")
    }
}
