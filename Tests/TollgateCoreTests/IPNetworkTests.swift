import Testing
import TollgateCore

/// Addresses as `TRUSTED_PROXIES` and the per-IP limits see them.
@Suite struct IPNetworkTests {
    @Test func anIPv4MappedPeerIsItsIPv4Address() throws {
        let proxies = try #require(IPNetwork("10.0.0.0/8"))
        #expect(proxies.contains("10.1.2.3"))
        #expect(proxies.contains("::ffff:10.1.2.3"), "a dual-stack socket reports IPv4 peers this way")
        #expect(!proxies.contains("::ffff:11.1.2.3"))
        #expect(!proxies.contains("2001:db8::1"))
    }

    @Test func perIPLimitsCountIPv4AddressesAndIPv6Slash64s() {
        #expect(IPNetwork.rateLimitSubject("203.0.113.9") == "203.0.113.9")
        #expect(IPNetwork.rateLimitSubject("::ffff:203.0.113.9") == "203.0.113.9")
        #expect(IPNetwork.rateLimitSubject("2001:db8:1:2::1") == "2001:0db8:0001:0002::/64")
        #expect(IPNetwork.rateLimitSubject("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:0db8:0001:0002::/64")
        #expect(IPNetwork.rateLimitSubject("2001:db8:1:3::1") != IPNetwork.rateLimitSubject("2001:db8:1:2::1"))
        #expect(IPNetwork.rateLimitSubject("unknown") == "unknown")
    }
}
