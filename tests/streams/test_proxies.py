"""The peer, or the client a trusted proxy speaks for; what a per-address limit counts by."""

from streams.proxies import address_key, client_address


def test_the_forwarded_address_is_the_client_only_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["172.28.0.0/24"]

    forwarded = "10.0.0.1, 198.51.100.7"
    assert client_address(peer="172.28.0.10", forwarded_for=forwarded) == "198.51.100.7"
    assert client_address(peer="172.28.0.10", forwarded_for=None) == "172.28.0.10"
    assert client_address(peer="203.0.113.9", forwarded_for="198.51.100.7") == "203.0.113.9"


def test_an_ipv6_client_is_counted_by_its_slash_64():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key("198.51.100.7") != address_key("198.51.100.8")
