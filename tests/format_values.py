"""Generated values for every format of infra/config/formats.py: ones its consumer takes, and ones it refuses.

Each invalid strategy builds its values to break one stated rule of the consumer (an octet above 255, a
minute of 60, a heap unit the JVM does not know, ...), never by asking the checks under test, so a check that
stops refusing something shows up as a failing test.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass

from hypothesis import strategies as st

S = st.SearchStrategy


@dataclass(frozen=True)
class Values:
    valid: S[str]
    invalid: S[str]


LOWER = string.ascii_lowercase
DIGITS = string.digits


def joined(*parts: S[str]) -> S[str]:
    return st.tuples(*parts).map("".join)


def text_of(alphabet: str, min_size: int, max_size: int) -> S[str]:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


# --- names -----------------------------------------------------------------------------------------------


def dns_label(max_size: int = 63, first: str = LOWER + DIGITS) -> S[str]:
    """A lowercase DNS label: alphanumeric ends, '-' inside."""
    single = st.sampled_from(first)
    longer = joined(single, text_of(LOWER + DIGITS + "-", 0, max_size - 2), st.sampled_from(LOWER + DIGITS))
    return st.one_of(single, longer)


def not_a_dns_label(max_size: int) -> S[str]:
    return st.one_of(
        joined(dns_label(20), st.sampled_from("_.A /"), dns_label(20)),  # a character labels do not have
        joined(st.just("-"), dns_label(20)),  # starts with '-'
        joined(dns_label(20), st.just("-")),  # ends with '-'
        text_of(LOWER, max_size + 1, max_size + 20),  # too long
        st.just(""),
    )


def domain() -> S[str]:
    return joined(
        st.lists(dns_label(20), min_size=1, max_size=3).map(lambda labels: ".".join(labels) + "."),
        text_of(LOWER, 2, 10),
    )


def not_a_domain() -> S[str]:
    return st.one_of(
        dns_label(20),  # a single label
        joined(domain(), st.just("."), text_of(DIGITS, 1, 4)),  # a numeric top-level domain
        joined(dns_label(10), st.just("_x.com")),  # an underscore
        joined(text_of(LOWER, 64, 70), st.just(".com")),  # a label longer than 63
        domain().map(str.upper),
        joined(dns_label(10), st.just("..com")),
    )


def subdomain() -> S[str]:
    return st.lists(dns_label(30), min_size=1, max_size=4).map(".".join)


def gcp_project_id() -> S[str]:
    reserved = ("google", "ssl", "null", "undefined")
    body = joined(st.sampled_from(LOWER), text_of(LOWER + DIGITS + "-", 4, 28), st.sampled_from(LOWER + DIGITS))
    return body.filter(lambda text: not any(word in text for word in reserved))


def label_name(max_size: int = 63) -> S[str]:
    alnum = string.ascii_letters + DIGITS
    return st.one_of(
        st.sampled_from(alnum),
        joined(st.sampled_from(alnum), text_of(alnum + "-_.", 0, max_size - 2), st.sampled_from(alnum)),
    )


# --- network ---------------------------------------------------------------------------------------------

IPV4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
IPV6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
BAD_IPV4 = st.one_of(
    st.tuples(st.integers(256, 999), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)).map(
        lambda octets: ".".join(map(str, octets))
    ),
    IPV4.map(lambda address: address + ".1"),  # five octets
    IPV4.map(lambda address: address.rsplit(".", 1)[0]),  # three octets
)


def ipv4_network(shortest: int, longest: int) -> S[str]:
    """A network address with its prefix (host bits clear)."""
    return st.tuples(st.integers(0, 2**32 - 1), st.integers(shortest, longest)).map(
        lambda pair: str(ipaddress.IPv4Network((pair[0], pair[1]), strict=False))
    )


def ipv4_with_host_bits(shortest: int, longest: int) -> S[str]:
    return st.tuples(ipv4_network(shortest, min(longest, 31)), st.integers(1, 2**31)).map(
        lambda pair: _with_host(pair[0], pair[1])
    )


def _with_host(network: str, offset: int) -> str:
    net = ipaddress.IPv4Network(network)
    host = net.network_address + 1 + offset % (net.num_addresses - 1)
    return f"{host}/{net.prefixlen}"


def ipv4_cidr_invalid(shortest: int, longest: int) -> S[str]:
    """CIDRs a GCP API refuses for a range of /shortest../longest."""
    outside = [st.integers(longest + 1, 32)] if longest < 32 else []
    outside += [st.integers(0, shortest - 1)] if shortest > 0 else []
    return st.one_of(
        ipv4_with_host_bits(shortest, longest),
        st.tuples(IPV4, st.integers(33, 99)).map(lambda pair: f"{pair[0]}/{pair[1]}"),  # prefix above 32
        st.tuples(BAD_IPV4, st.integers(8, 24)).map(lambda pair: f"{pair[0]}/{pair[1]}"),
        IPV4,  # no prefix
        st.tuples(IPV6, st.integers(0, 128)).map(lambda pair: str(ipaddress.ip_network(f"{pair[0]}/{pair[1]}", False))),
        *(
            st.tuples(st.integers(0, 2**32 - 1), prefix).map(
                lambda pair: str(ipaddress.IPv4Network((pair[0], pair[1]), strict=False))
            )
            for prefix in outside
        ),
    )


def address_range() -> S[str]:
    def ordered(family: S[str]) -> S[str]:
        return st.tuples(family, family).map(
            lambda pair: "-".join(sorted(pair, key=lambda text: int(ipaddress.ip_address(text))))
        )

    return st.one_of(ordered(IPV4), ordered(IPV6))


def reversed_range() -> S[str]:
    def backwards(family: S[str]) -> S[str]:
        return (
            st.tuples(family, family)
            .filter(lambda pair: pair[0] != pair[1])
            .map(lambda pair: "-".join(sorted(pair, key=lambda text: -int(ipaddress.ip_address(text)))))
        )

    return st.one_of(backwards(IPV4), backwards(IPV6))


def host() -> S[str]:
    # A single all-digit label would read as an IPv4 address (inet_aton takes "123"): not a host name.
    return st.one_of(domain(), dns_label(30, LOWER), IPV4)


def not_a_host() -> S[str]:
    return st.one_of(
        joined(dns_label(10), st.sampled_from(["_x", " x", "!"]), st.just(".example.com")),
        joined(dns_label(10), st.just("..example.com")),
        joined(text_of(LOWER, 64, 70), st.just(".example.com")),
        BAD_IPV4,
    )


def port() -> S[str]:
    return st.integers(1, 65535).map(str)


def bad_port() -> S[str]:
    return st.one_of(st.just("0"), st.integers(65536, 999999).map(str), text_of(LOWER, 1, 5))


# --- URLs, identities -------------------------------------------------------------------------------------

PATHS = st.lists(dns_label(10), max_size=3).map(lambda parts: "".join(f"/{part}" for part in parts))


def url(scheme: S[str], path: S[str] = PATHS) -> S[str]:
    port_part = st.one_of(st.just(""), port().map(lambda text: f":{text}"))
    return joined(scheme, st.just("://"), host(), port_part, path)


def not_a_url(schemes: tuple[str, ...]) -> S[str]:
    other = st.sampled_from(["ftp", "file", "gopher", *(("http",) if "http" not in schemes else ())])
    return st.one_of(
        url(other),  # a scheme the consumer does not speak
        joined(domain(), PATHS),  # no scheme
        joined(st.sampled_from([f"{scheme}://" for scheme in schemes]), not_a_host()),
        joined(st.sampled_from([f"{scheme}://" for scheme in schemes]), domain(), st.just(":"), bad_port()),
        joined(st.sampled_from([f"{scheme}://" for scheme in schemes]), domain(), st.just("/a b")),
        st.sampled_from([f"{scheme}://" for scheme in schemes]),
    )


LOCAL_PART = joined(st.sampled_from(LOWER + DIGITS), text_of(LOWER + DIGITS + "._-+", 0, 20), st.sampled_from(LOWER))
# email-validator refuses a domain label with '--' at its third and fourth characters (IDNA reserves them for
# Punycode's 'xn--', RFC 5891 4.2.3.1), and the special-use top-level domains.
EMAIL = joined(
    LOCAL_PART.filter(lambda text: ".." not in text),
    st.just("@"),
    domain().filter(lambda text: all(label[2:4] != "--" for label in text.split("."))),
).filter(lambda text: text.rsplit(".", 1)[1] not in ("test", "local", "localhost", "invalid", "onion", "arpa"))


def not_an_email() -> S[str]:
    return st.one_of(
        LOCAL_PART,  # no @
        joined(LOCAL_PART, st.just("@"), dns_label(20)),  # a domain without a dot
        joined(LOCAL_PART, st.just("@@"), domain()),
        joined(st.just("Alice <"), EMAIL, st.just(">")),  # a display name
        joined(LOCAL_PART, st.just(" @"), domain()),
        joined(st.just("@"), domain()),
    )


TAG = joined(
    st.sampled_from(string.ascii_letters + DIGITS + "_"), text_of(string.ascii_letters + DIGITS + "_.-", 0, 20)
)
DIGEST = text_of("0123456789abcdef", 64, 64).map(lambda hex_digits: f"@sha256:{hex_digits}")
REPOSITORY = st.lists(dns_label(12, LOWER), min_size=1, max_size=3).map("/".join)
REGISTRY = joined(domain(), st.one_of(st.just(""), port().map(lambda text: f":{text}")))


def image(digest: bool) -> S[str]:
    name = joined(REGISTRY, st.just("/"), REPOSITORY)
    if digest:
        return joined(name, st.one_of(st.just(""), TAG.map(lambda tag: f":{tag}")), DIGEST)
    return st.one_of(joined(name, TAG.map(lambda tag: f":{tag}")), joined(name, DIGEST))


def not_an_image(digest: bool) -> S[str]:
    name = joined(REGISTRY, st.just("/"), REPOSITORY)
    broken = [
        name,  # neither tag nor digest
        joined(name.map(str.upper), st.just(":v1")),  # uppercase repository
        joined(name, st.just(":-bad")),  # a tag starting with '-'
        joined(name, st.just("@sha256:"), text_of("0123456789abcdef", 1, 63)),  # a short digest
    ]
    if digest:
        broken.append(joined(name, TAG.map(lambda tag: f":{tag}")))
    return st.one_of(*broken)


SCOPE = text_of("".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\'), 1, 15)
GROUP_CHARS = string.ascii_letters + DIGITS + "-_.:/@"
GROUP = text_of(GROUP_CHARS, 1, 30)


# --- schedules -------------------------------------------------------------------------------------------


def cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> S[str]:
    value = st.integers(low, high).map(str)
    if names:
        value = st.one_of(value, st.sampled_from(names))
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(lambda pair: f"{min(pair)}-{max(pair)}")
    step = st.integers(1, high).map(str)
    item = st.one_of(value, span, st.just("*"), joined(st.sampled_from(["*", str(low)]), st.just("/"), step))
    return st.lists(item, min_size=1, max_size=3).map(",".join)


MONTHS = ("jan", "feb", "MAR", "Apr", "dec")
DAYS = ("sun", "mon", "FRI", "Sat")
ROBFIG_FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, MONTHS), (0, 6, DAYS))
FIVE_FIELDS = st.tuples(*(cron_field(*field) for field in ROBFIG_FIELDS)).map(" ".join)
DESCRIPTORS = st.sampled_from(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"])


def five_fields_with(index: int, bad: S[str]) -> S[str]:
    fields = [cron_field(*field) for field in ROBFIG_FIELDS]
    fields[index] = bad
    return st.tuples(*fields).map(" ".join)


def broken_five_fields() -> S[str]:
    out_of_range = [
        st.integers(60, 99).map(str),  # minute
        st.integers(24, 99).map(str),  # hour
        st.sampled_from(["0", "32", "99"]),  # day of month
        st.sampled_from(["0", "13", "smarch"]),  # month
        st.sampled_from(["7", "8", "funday"]),  # day of week: robfig stops at 6
    ]
    return st.one_of(
        *(five_fields_with(index, bad) for index, bad in enumerate(out_of_range)),
        five_fields_with(0, st.just("*/0")),  # a step of zero
        five_fields_with(1, st.just("20-10")),  # a range that runs backwards
        FIVE_FIELDS.map(lambda line: line.rsplit(" ", 1)[0]),  # four fields
        FIVE_FIELDS.map(lambda line: line + " 2030"),  # six fields
        st.sampled_from(["@fortnightly", "@every", "@every 0s", "@every 1d", "CRON_TZ=UTC 0 2 * * *"]),
    )


QUARTZ_DAYS = st.one_of(cron_field(1, 31), st.sampled_from(["L", "15W", "LW", "L-3"]))
QUARTZ_WEEKDAYS = st.one_of(cron_field(1, 7, DAYS), st.sampled_from(["6L", "2#1", "MON#3"]))


NO_YEAR = st.just("")


def quartz(day_of_month: S[str], day_of_week: S[str], extra: S[str] = NO_YEAR) -> S[str]:
    return (
        st.tuples(
            cron_field(0, 59),
            cron_field(0, 59),
            cron_field(0, 23),
            day_of_month,
            cron_field(1, 12, MONTHS),
            day_of_week,
        )
        .map(" ".join)
        .flatmap(lambda line: extra.map(lambda year: f"{line} {year}".rstrip()))
    )


ELASTIC_CRON = st.one_of(
    quartz(st.just("?"), QUARTZ_WEEKDAYS), quartz(QUARTZ_DAYS, st.just("?"), st.one_of(st.just(""), st.just("2030")))
)
BROKEN_ELASTIC_CRON = st.one_of(
    quartz(cron_field(1, 31), cron_field(1, 7)),  # neither day field is '?'
    quartz(st.just("?"), st.just("?")),  # both are
    quartz(st.just("?"), st.sampled_from(["0", "8", "2#6"])),  # weekday 1-7, nth 1-5
    quartz(st.just("?"), QUARTZ_WEEKDAYS).map(lambda line: "60" + line[line.index(" ") :]),  # second 60
    FIVE_FIELDS,  # a Unix line, without seconds
)


# --- durations and quantities ----------------------------------------------------------------------------

GO_UNITS = ("ns", "us", "ms", "s", "m", "h")
GO_DURATION = st.lists(
    st.tuples(st.integers(1, 999), st.sampled_from(GO_UNITS)).map(lambda pair: f"{pair[0]}{pair[1]}"),
    min_size=1,
    max_size=3,
).map("".join)
BROKEN_GO_DURATION = st.one_of(
    st.tuples(st.integers(1, 999), st.sampled_from(["d", "w", "y", "min", "H", "sec"])).map(
        lambda pair: f"{pair[0]}{pair[1]}"
    ),  # units Go does not know
    st.sampled_from(["0", "0s", "-5m", "30", "1h 30m", "m", ""]),
)


def prometheus_duration() -> S[str]:
    units = ("y", "w", "d", "h", "m", "s", "ms")
    return st.lists(st.sampled_from(range(len(units))), min_size=1, max_size=4, unique=True).flatmap(
        lambda chosen: st.tuples(*(st.integers(1, 99) for _ in chosen)).map(
            lambda amounts: "".join(f"{amount}{units[i]}" for amount, i in zip(amounts, sorted(chosen), strict=True))
        )
    )


BROKEN_PROMETHEUS_DURATION = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(1, 9)).map(lambda pair: f"{pair[0]}d{pair[1]}w"),  # smallest first
    st.integers(1, 99).map(lambda n: f"{n}h{n}h"),  # a unit twice
    st.sampled_from(["0d", "0s", "1.5h", "15 d", "15D", "forever", ""]),
)

BINARY = ("Ki", "Mi", "Gi", "Ti", "Pi")
BYTES = st.one_of(
    st.tuples(st.integers(1, 4096), st.sampled_from(BINARY)).map(lambda pair: f"{pair[0]}{pair[1]}"),
    st.tuples(st.integers(1, 4096), st.sampled_from(("", "k", "M", "G", "T"))).map(lambda pair: f"{pair[0]}{pair[1]}"),
    st.integers(1, 99).map(lambda n: f"{n}e9"),
    st.integers(1, 999).map(lambda n: f"{n}.5Gi"),
)
BROKEN_BYTES = st.one_of(
    st.tuples(st.integers(1, 4096), st.sampled_from(("GB", "MB", "gi", "Gb", "KiB", " Gi"))).map(
        lambda pair: f"{pair[0]}{pair[1]}"
    ),
    st.integers(1, 999).map(lambda n: f"{n * 10 + 1}m"),  # millibytes: not a whole byte
    st.integers(1, 4096).map(lambda n: f"-{n}Gi"),
    st.sampled_from(["Gi", "1.5", "", "1,5Gi"]),
)
CPU = st.one_of(st.integers(1, 512).map(str), st.integers(1, 64000).map(lambda n: f"{n}m"))
BROKEN_CPU = st.one_of(
    st.sampled_from(["0", "0m", "0.0001", "1 core", "1c", "-1", "", "2 "]),
    st.integers(1, 9).map(lambda n: f"0.000{n}"),
)


def version(leading_v: bool) -> S[str]:
    number = st.integers(0, 300).map(str)
    core = st.tuples(number, number, number).map(".".join)
    pre = st.one_of(st.just(""), st.sampled_from(["-rc.1", "-beta", "-alpha.2", "+build.5"]))
    prefix = st.sampled_from(["", "v"]) if leading_v else st.just("")
    return joined(prefix, core, pre)


BROKEN_VERSION = st.one_of(
    st.sampled_from(["latest", "stable", "*", "", "1.2.x", "^1.2.3", "~1.2", ">=1.0.0", "1.2.3-"]),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda pair: f"{pair[0]}.{pair[1]}.{pair[1]}.{pair[0]}"),
    st.integers(0, 99).map(lambda n: f"{n}"),
    st.integers(1, 9).map(lambda n: f"0{n}.1.0"),  # a leading zero
)


# --- every format ----------------------------------------------------------------------------------------

TIME_ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"])

FORMAT_VALUES: dict[str, Values] = {
    "ipv4-network": Values(ipv4_network(0, 32), ipv4_cidr_invalid(0, 32)),
    "gcp-subnet-range": Values(ipv4_network(8, 29), ipv4_cidr_invalid(0, 29)),
    "gke-pod-range": Values(ipv4_network(8, 24), ipv4_cidr_invalid(0, 24)),
    "gke-control-plane-range": Values(ipv4_network(28, 28), ipv4_cidr_invalid(28, 28)),
    "address-pool-range": Values(
        st.one_of(address_range(), ipv4_network(16, 32), ipv4_with_host_bits(16, 30)),
        st.one_of(
            reversed_range(),
            st.tuples(IPV4, IPV6).map("-".join),  # two families
            st.tuples(BAD_IPV4, IPV4).map("-".join),
            st.tuples(IPV4, st.integers(33, 99)).map(lambda pair: f"{pair[0]}/{pair[1]}"),
            text_of(LOWER, 1, 10),
        ),
    ),
    "ip-address": Values(st.one_of(IPV4, IPV6), st.one_of(BAD_IPV4, text_of(LOWER, 1, 10), st.just("10.0.0.1/32"))),
    "host": Values(host(), not_a_host()),
    "host-port": Values(
        joined(host(), st.just(":"), port()),
        st.one_of(host(), joined(host(), st.just(":"), bad_port()), joined(IPV6, st.just(":"), port())),
    ),
    "https-url": Values(url(st.just("https")), not_a_url(("https",))),
    "http-url": Values(url(st.sampled_from(["http", "https"])), not_a_url(("http", "https"))),
    "s3-endpoint": Values(
        url(st.sampled_from(["http", "https"]), st.sampled_from(["", "/"])),
        st.one_of(
            joined(url(st.just("https"), st.just("")), st.just("/"), dns_label(10)), not_a_url(("http", "https"))
        ),
    ),
    "git-repository": Values(
        st.one_of(
            joined(
                url(st.sampled_from(["https", "ssh"]), st.just("")), st.just("/org/"), dns_label(10), st.just(".git")
            ),
            joined(st.just("git@"), domain(), st.just(":org/"), dns_label(10), st.just(".git")),
        ),
        st.one_of(
            joined(domain(), st.just("/org/repo")),
            url(st.sampled_from(["https", "http"]), st.just("")),  # no repository path
            url(st.just("ftp")),
        ),
    ),
    "git-url-prefix": Values(
        joined(url(st.sampled_from(["https", "http", "ssh"]), st.just("")), st.just("/"), dns_label(10), st.just("/")),
        st.one_of(
            joined(url(st.just("https"), st.just("")), st.just("/"), dns_label(10)),  # no trailing slash
            joined(url(st.just("ftp"), st.just("")), st.just("/")),
            joined(url(st.just("https"), st.just("")), st.just('/a"b/')),
            joined(domain(), st.just("/org/")),
        ),
    ),
    "git-revision": Values(
        st.one_of(subdomain(), st.lists(dns_label(10), min_size=1, max_size=3).map("/".join), version(True)).filter(
            lambda ref: not any(part.endswith(".lock") for part in ref.split("/"))
        ),
        st.one_of(
            joined(dns_label(10), st.sampled_from([" ", "..", "~", "^", ":", "?", "*", "[", "\\"]), dns_label(10)),
            joined(dns_label(10), st.sampled_from([".lock", "/", "."])),
            st.sampled_from(["", "@", "-main"]),
        ),
    ),
    "email": Values(EMAIL, not_an_email()),
    "image": Values(image(digest=False), not_an_image(digest=False)),
    "image-by-digest": Values(image(digest=True), not_an_image(digest=True)),
    "oci-registry": Values(
        joined(st.just("oci://"), REGISTRY, st.one_of(st.just(""), REPOSITORY.map(lambda path: f"/{path}"))),
        st.one_of(
            joined(REGISTRY, st.just("/charts")),  # no oci://
            joined(st.just("https://"), REGISTRY),
            joined(st.just("oci://"), REGISTRY, st.just("/charts/")),  # a trailing /
            joined(st.just("oci://"), REGISTRY, st.just("/"), REPOSITORY.map(str.upper)),
        ),
    ),
    "registry": Values(
        joined(REGISTRY, st.one_of(st.just(""), REPOSITORY.map(lambda path: f"/{path}"))),
        st.one_of(
            joined(REGISTRY, st.just("/"), REPOSITORY.map(str.upper)),
            joined(domain(), st.just(":"), bad_port()),
            joined(not_a_host(), st.just("/team")),
        ),
    ),
    "oauth-scope": Values(SCOPE, st.one_of(joined(SCOPE, st.sampled_from([" ", '"', "\\", "\t"]), SCOPE), st.just(""))),
    "oauth-scopes": Values(
        st.lists(SCOPE, min_size=1, max_size=5).map(" ".join),
        st.one_of(
            st.lists(SCOPE, min_size=2, max_size=4).map("  ".join),
            SCOPE.map(lambda scope: f" {scope}"),
            joined(SCOPE, st.just(' "x"')),
            st.just(""),
        ),
    ),
    "group": Values(
        st.one_of(GROUP, joined(GROUP, st.just(" "), GROUP)),
        st.one_of(
            joined(GROUP, st.sampled_from([",", '"', "\n"]), GROUP), GROUP.map(lambda group: f" {group}"), st.just("")
        ),
    ),
    "grafana-group": Values(GROUP, st.one_of(joined(GROUP, st.sampled_from([" ", ",", "'", '"']), GROUP), st.just(""))),
    "claim": Values(text_of(string.ascii_letters + "_:-", 1, 20), st.one_of(st.just(""), joined(GROUP, st.just(" x")))),
    "slack-channel": Values(
        joined(st.just("#"), dns_label(40)),
        st.one_of(
            dns_label(40),
            joined(st.just("#"), dns_label(20, LOWER).map(str.upper)),
            joined(st.just("#a "), dns_label(10)),
        ),
    ),
    "name": Values(dns_label(40), not_a_dns_label(40)),
    "namespace": Values(dns_label(63), not_a_dns_label(63)),
    "component-label": Values(dns_label(63), not_a_dns_label(63)),
    "object-name": Values(
        subdomain().filter(lambda text: len(text) <= 253),
        st.one_of(
            joined(st.just("X"), subdomain()),
            joined(subdomain(), st.sampled_from(["_x", "/x", " x"])),
            st.just(".x"),
            text_of(LOWER, 254, 260),
        ),
    ),
    "secret-key": Values(
        text_of(string.ascii_letters + DIGITS + "-_", 1, 30),
        st.one_of(st.sampled_from([".", "..", "..x", ""]), joined(dns_label(10), st.sampled_from(["/", " ", ":"]))),
    ),
    "label-key": Values(
        st.one_of(label_name(), joined(subdomain(), st.just("/"), label_name())),
        st.one_of(
            text_of(LOWER, 64, 70),  # a name longer than 63
            joined(st.just("X"), subdomain(), st.just("/x")),  # an uppercase prefix
            joined(subdomain(), st.just("/")),  # an empty name
            joined(st.sampled_from("-_."), label_name()),
        ),
    ),
    "label-value": Values(
        st.one_of(st.just(""), label_name()),
        st.one_of(
            text_of(LOWER, 64, 70), joined(st.sampled_from("-_. "), label_name()), joined(label_name(), st.just("/"))
        ),
    ),
    "node-pool-name": Values(
        dns_label(40, LOWER), st.one_of(not_a_dns_label(40), joined(st.sampled_from(DIGITS), dns_label(10)))
    ),
    "domain": Values(domain(), not_a_domain()),
    "email-domain": Values(
        st.one_of(domain(), st.just("*")), st.one_of(not_a_domain(), joined(st.sampled_from(["@", "*."]), domain()))
    ),
    "dns-name": Values(
        st.one_of(dns_label(30), domain(), domain().map(lambda name: name + ".")),
        st.one_of(joined(dns_label(10), st.sampled_from([" ", "..", "!"]), dns_label(10)), text_of(LOWER, 64, 70)),
    ),
    "gcp-project-id": Values(
        gcp_project_id(),
        st.one_of(
            text_of(LOWER, 1, 5),  # too short
            joined(gcp_project_id(), st.just("-")),
            joined(st.sampled_from(DIGITS), text_of(LOWER, 5, 10)),
            gcp_project_id().map(lambda text: text[:12] + "google"),
            gcp_project_id().map(str.upper),
            text_of(LOWER, 31, 40),
        ),
    ),
    "gcp-region": Values(
        joined(text_of(LOWER, 2, 12), st.just("-"), text_of(LOWER, 3, 12), st.integers(1, 12).map(str)),
        st.one_of(
            joined(text_of(LOWER, 2, 12), st.just("_"), text_of(LOWER, 3, 12), st.just("1")),
            joined(text_of(LOWER, 2, 12), st.just("-"), text_of(LOWER, 3, 12)),  # no number
            st.just("EU"),
        ),
    ),
    "pubsub-topic": Values(
        dns_label(63, LOWER).filter(lambda text: len(text) >= 3 and not text.startswith("goog")),
        st.one_of(joined(st.just("goog"), dns_label(10)), text_of(LOWER, 1, 2), dns_label(20).map(str.upper)),
    ),
    "bucket-prefix": Values(
        dns_label(41).filter(lambda text: len(text) >= 3 and "goog" not in text),
        st.one_of(
            joined(dns_label(10), st.just("google")), joined(st.just("goog"), dns_label(10)), text_of(LOWER, 42, 50)
        ),
    ),
    "cloud-dns-zone": Values(
        dns_label(63, LOWER), st.one_of(not_a_dns_label(63), joined(st.sampled_from(DIGITS), dns_label(10)))
    ),
    "machine-type": Values(
        joined(st.sampled_from(["e2", "n2", "n2d", "c3", "g2", "a2"]), st.just("-"), dns_label(20, LOWER)),
        st.one_of(text_of(LOWER, 1, 10), joined(st.just("E2-"), dns_label(10)), joined(st.just("e2 "), dns_label(10))),
    ),
    "cloud-sql-tier": Values(
        st.one_of(
            st.sampled_from(["db-f1-micro", "db-g1-small", "db-perf-optimized-N-4"]),
            st.sampled_from([1, *range(2, 97, 2)]).flatmap(
                lambda cpus: st.integers(max(15, -(-cpus * 922 // 256)), cpus * 6656 // 256).map(
                    lambda units: f"db-custom-{cpus}-{units * 256}"
                )
            ),
        ),
        st.one_of(
            st.sampled_from(range(3, 97, 2)).map(lambda cpus: f"db-custom-{cpus}-{cpus * 4096}"),  # odd vCPUs
            st.integers(2, 48).map(lambda half: f"db-custom-{half * 2}-{half * 2 * 4096 + 100}"),  # not 256 MB steps
            st.integers(1, 48).map(lambda half: f"db-custom-{half * 2}-{half * 2 * 7168}"),  # 7 GB per vCPU
            st.sampled_from(["custom-2-7680", "db custom", "db-custom-2-3584"]),
        ),
    ),
    "feast-project": Values(
        joined(st.sampled_from(LOWER), text_of(LOWER + DIGITS + "_", 0, 39)),
        st.one_of(
            joined(st.sampled_from(DIGITS + "_"), text_of(LOWER, 0, 5)), joined(text_of(LOWER, 1, 5), st.just("-x"))
        ),
    ),
    "config-key": Values(
        joined(st.sampled_from(string.ascii_letters), text_of(string.ascii_letters + DIGITS, 2, 62)),
        st.one_of(
            joined(st.sampled_from(DIGITS), text_of(LOWER, 2, 5)), text_of(LOWER, 1, 2), st.just("slack-webhook")
        ),
    ),
    "application-pattern": Values(
        st.one_of(dns_label(40), joined(dns_label(10), st.just("-*")), st.just("*"), st.just("model-[ab]?")),
        st.one_of(
            dns_label(10, LOWER).map(str.upper),
            joined(dns_label(10), st.just(" x")),
            joined(dns_label(10), st.just("[")),
        ),
    ),
    "cron": Values(st.one_of(FIVE_FIELDS, DESCRIPTORS, GO_DURATION.map(lambda d: f"@every {d}")), broken_five_fields()),
    "five-field-cron": Values(FIVE_FIELDS, st.one_of(broken_five_fields(), DESCRIPTORS)),
    "elasticsearch-cron": Values(ELASTIC_CRON, BROKEN_ELASTIC_CRON),
    "time-of-day": Values(
        st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}"),
        st.one_of(
            st.integers(24, 99).map(lambda hour: f"{hour}:00"),
            st.integers(60, 99).map(lambda minute: f"12:{minute}"),
            st.integers(0, 9).map(lambda hour: f"{hour}:00"),
        ),
    ),
    "time-zone": Values(TIME_ZONES, joined(st.just("Nowhere/"), text_of(LOWER, 1, 8), st.integers(0, 99).map(str))),
    "go-duration": Values(GO_DURATION, BROKEN_GO_DURATION),
    "prometheus-duration": Values(prometheus_duration(), BROKEN_PROMETHEUS_DURATION),
    "elasticsearch-age": Values(
        st.tuples(st.integers(1, 999), st.sampled_from("hdwy")).map(lambda pair: f"{pair[0]}{pair[1]}"),
        st.one_of(st.sampled_from(["0d", "0h", "30", "1.5d", "d", ""]), st.integers(1, 99).map(lambda n: f"{n}m")),
    ),
    "cnpg-retention": Values(
        st.tuples(st.integers(1, 999), st.sampled_from("dwm")).map(lambda pair: f"{pair[0]}{pair[1]}"),
        st.one_of(st.sampled_from(["0d", "30", "030d", ""]), st.integers(1, 99).map(lambda n: f"{n}h")),
    ),
    "refresh-minutes": Values(
        st.integers(1, 99).map(lambda n: f"{n}m"),
        st.one_of(st.sampled_from(["0m", "4h", "30s", "m"]), st.integers(100, 9999).map(lambda n: f"{n}m")),
    ),
    "byte-quantity": Values(BYTES, st.one_of(BROKEN_BYTES, st.sampled_from(["0", "0Gi"]))),
    "byte-quota": Values(st.one_of(BYTES, st.sampled_from(["0", "0Gi"])), BROKEN_BYTES),
    "cpu-quantity": Values(CPU, BROKEN_CPU),
    "jvm-heap": Values(
        st.tuples(st.integers(1, 64), st.sampled_from("mg")).map(lambda pair: f"{pair[0]}{pair[1]}"),
        st.one_of(
            st.sampled_from(["0m", "0g", "1k", "512", "4gb", "1.5g", "4G ", ""]),
            st.integers(1, 99).map(lambda n: f"{n}t"),
        ),
    ),
    "elastic-version": Values(
        version(leading_v=False), st.one_of(BROKEN_VERSION, version(False).map(lambda v: "v" + v))
    ),
    "ray-version": Values(version(leading_v=False), st.one_of(BROKEN_VERSION, version(False).map(lambda v: "v" + v))),
    "image-build": Values(
        joined(
            text_of("0123456789abcdef", 40, 40),
            st.one_of(st.just(""), joined(st.just("@sha256:"), text_of("0123456789abcdef", 64, 64))),
        ),
        st.one_of(
            text_of("0123456789abcdef", 0, 39),  # a short commit
            text_of("0123456789abcdef", 41, 50),
            joined(text_of("0123456789abcdef", 39, 39), st.sampled_from("ABCDEFGXYZ-_.:")),  # not lowercase hex
            joined(
                text_of("0123456789abcdef", 40, 40), st.sampled_from(["@sha256:", "@sha512:" + "0" * 64, ":latest"])
            ),
            joined(text_of("0123456789abcdef", 40, 40), st.just("@sha256:"), text_of("0123456789abcdef", 63, 63)),
            st.sampled_from(["latest", "main", "v1.0.0"]),
        ),
    ),
    "pinned-version": Values(
        st.one_of(
            version(leading_v=True),
            st.tuples(st.integers(10, 99), st.integers(1, 12)).map(lambda p: f"{p[0]}.{p[1]:02d}"),
        ),
        BROKEN_VERSION,
    ),
}
