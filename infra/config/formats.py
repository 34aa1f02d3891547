"""Every format a setting can have, each defined once and reused by the settings models (infra/config/settings/).

A format is a string type whose value is checked, when the environment loads, by the rules of the system that
receives it (infra/config/syntax has the checks). A value that breaks them is refused with its config path,
like a wrong type, instead of passing review and `check` and failing at `pulumi up` or in the cluster. Each
format appears in the JSON Schema as `"format": <name>` (with a `pattern` where a regular expression says it
all) and in docs/environment.md with the settings that use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from infra.config.syntax import FormatError, clock, cron, durations, names, network, quantities, versions, web

FORMAT_ERROR = "format"
"""pydantic error type of a refused format; loader.py reports its message as it is."""


@dataclass(frozen=True)
class Format:
    """Annotation metadata: `Annotated[str, Format(...)]` checks the string after pydantic has typed it."""

    name: str
    description: str
    """What a valid value is, after "is not": an article, a noun and an example."""
    consumer: str
    """Whose rules these are: where a value that breaks them would fail."""
    check: Callable[[str], object]
    """Raises FormatError saying what is wrong."""
    pattern: str | None = None
    """A regular expression for editors (JSON Schema); `check` may say more."""

    def validate(self, value: str) -> str:
        try:
            self.check(value)
        # FormatError, or a number beyond what Python converts (int() stops at 4300 digits): refused alike.
        except ValueError as error:
            message = f"{value!r} is not {self.description}: {error}"
            raise PydanticCustomError(FORMAT_ERROR, "{message}", {"message": message}) from None
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["format"] = self.name
        if self.pattern is not None:
            json_schema["pattern"] = self.pattern
        return json_schema


FORMATS: dict[str, Format] = {}
"""Every format by name, in the order defined here (the order of docs/environment.md)."""


def text_format(
    name: str, description: str, consumer: str, check: Callable[[str], object], pattern: str | None = None
) -> Format:
    """Define and register a format; its name must be new."""
    assert name not in FORMATS, f"format {name} is defined twice"
    FORMATS[name] = Format(name, description, consumer, check, pattern)
    return FORMATS[name]


def matching(pattern: str, reason: str) -> Callable[[str], str]:
    """A check that is a regular expression alone."""
    compiled = re.compile(pattern)

    def check(text: str) -> str:
        if not compiled.match(text):
            raise FormatError(reason)
        return text

    return check


# --- network ---------------------------------------------------------------------------------------------

IPv4Network = Annotated[
    str,
    text_format(
        "ipv4-network",
        "an IPv4 network such as 198.51.100.0/24",
        "GKE (master authorized networks take the network address, host bits clear)",
        partial(network.network, version=4),
    ),
]


def _prefix_at_most(longest: int, text: str) -> object:
    net = network.network(text, version=4)
    if net.prefixlen > longest:
        raise FormatError(f"/{net.prefixlen} is smaller than the smallest range allowed here, /{longest}")
    return net


def _prefix_exactly(length: int, text: str) -> object:
    net = network.network(text, version=4)
    if net.prefixlen != length:
        raise FormatError(f"needs a /{length} range, not /{net.prefixlen}")
    return net


GcpSubnetRange = Annotated[
    str,
    text_format(
        "gcp-subnet-range",
        "an IPv4 subnet range such as 10.10.0.0/20",
        "Compute Engine subnets (network address with host bits clear, /29 at the smallest)",
        partial(_prefix_at_most, 29),
    ),
]
GkePodRange = Annotated[
    str,
    text_format(
        "gke-pod-range",
        "an IPv4 pod range such as 10.20.0.0/14",
        "GKE (host bits clear; each node takes a /24 of it at the default 110 pods per node, so /24 at the smallest)",
        partial(_prefix_at_most, 24),
    ),
]
GkeControlPlaneRange = Annotated[
    str,
    text_format(
        "gke-control-plane-range",
        "an IPv4 /28 range such as 172.16.0.0/28",
        "GKE private clusters (the control plane's range is exactly a /28, host bits clear)",
        partial(_prefix_exactly, 28),
    ),
]
AddressPoolRange = Annotated[
    str,
    text_format(
        "address-pool-range",
        "an address range such as 192.168.10.0/24 or 192.168.10.240-192.168.10.250",
        "MetalLB (a CIDR, IPv4 or IPv6, or first-last of one family with first <= last)",
        network.address_pool,
    ),
]
IPAddress = Annotated[
    str,
    text_format("ip-address", "an IP address such as 192.0.2.1 or 2001:db8::1", "MetalLB", network.address),
]
Host = Annotated[
    str,
    text_format("host", "a host name or IP address such as ns1.example.net", "DNS clients", network.host),
]
HostPort = Annotated[
    str,
    text_format("host-port", "a host:port such as redis.ns.svc.cluster.local:6379", "Go's net.Dial", network.host_port),
]

# --- URLs and identities ---------------------------------------------------------------------------------

HttpsUrl = Annotated[
    str,
    text_format(
        "https-url",
        "an https:// URL such as https://idp.example.com/realms/platform",
        "OIDC and ACME clients (they speak TLS only)",
        partial(web.url, schemes=("https",)),
        r"^https://",
    ),
]
HttpUrl = Annotated[
    str,
    text_format(
        "http-url",
        "an http:// or https:// URL such as https://vault.example.internal:8200",
        "HTTP clients",
        partial(web.url, schemes=("http", "https")),
        r"^https?://",
    ),
]
S3Endpoint = Annotated[
    str,
    text_format(
        "s3-endpoint",
        "an S3 endpoint such as https://s3.example.internal:9000",
        "S3 clients (scheme, host and port only: KServe and Velero add the rest)",
        partial(web.url, schemes=("http", "https"), path=False),
        r"^https?://",
    ),
]
GitRepository = Annotated[
    str,
    text_format(
        "git-repository",
        "a git repository URL such as https://github.com/org/repo.git or git@github.com:org/repo.git",
        "Argo CD",
        web.git_repository,
    ),
]
GitUrlPrefix = Annotated[
    str,
    text_format(
        "git-url-prefix",
        "a repository URL prefix ending in / such as https://github.com/",
        "git's url.<base>.insteadOf",
        web.git_url_prefix,
    ),
]
GitRevision = Annotated[
    str,
    text_format("git-revision", "a branch, tag or commit such as main", "git and Argo CD", web.git_ref),
]
Email = Annotated[
    str,
    text_format("email", "an e-mail address such as alice@example.com", "email-validator (no display name)", web.email),
]
Image = Annotated[
    str,
    text_format(
        "image",
        "an image reference with a tag or digest, such as ghcr.io/org/image:v1.0",
        "container runtimes",
        partial(web.image, digest=False),
    ),
]
ImageByDigest = Annotated[
    str,
    text_format(
        "image-by-digest",
        "an image reference pinned by digest, such as registry.k8s.io/pause:3.10@sha256:<64 hex digits>",
        "container runtimes",
        partial(web.image, digest=True),
    ),
]
RegistryAddress = Annotated[
    str,
    text_format(
        "registry",
        "a registry host and optional path such as registry.corp.example.net/mlops",
        "container runtimes",
        web.registry,
    ),
]
OciRegistry = Annotated[
    str,
    text_format(
        "oci-registry",
        "an OCI registry (and path) for Helm charts such as oci://registry.corp.example.net/charts",
        "Helm (helm push / helm pull oci://) and Argo CD's OCI Helm sources",
        web.oci_registry,
        r"^oci://",
    ),
]
Scope = Annotated[
    str,
    text_format("oauth-scope", "an OAuth scope such as openid", "OAuth 2.0 (RFC 6749)", web.scope),
]
Scopes = Annotated[
    str,
    text_format("oauth-scopes", "space-separated OAuth scopes such as 'openid email profile'", "OAuth 2.0", web.scopes),
]
Group = Annotated[
    str,
    text_format("group", "an identity-provider group such as platform-admins", "Argo CD's policy.csv", names.group),
]
GrafanaGroup = Annotated[
    str,
    text_format(
        "grafana-group", "a group without spaces or commas, such as ml-platform", "Grafana", names.grafana_group
    ),
]
Claim = Annotated[str, text_format("claim", "a token claim name such as email", "OIDC", names.claim)]
SlackChannel = Annotated[
    str,
    text_format("slack-channel", "a Slack channel such as #platform-alerts", "Slack", names.slack_channel),
]

# --- Kubernetes, DNS and Google Cloud names --------------------------------------------------------------

KubernetesName = Annotated[
    str,
    text_format(
        "name",
        "a lowercase name of letters, digits and '-' (at most 40)",
        "Kubernetes (a DNS label, which the platform keeps to 40 characters)",
        partial(names.dns1123_label, max_length=40),
        r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$",
    ),
]
Namespace = Annotated[
    str,
    text_format(
        "namespace",
        "a namespace name such as ml-serving",
        "Kubernetes (a DNS-1123 label of at most 63)",
        names.dns1123_label,
        r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    ),
]
ComponentLabel = Annotated[
    str,
    text_format(
        "component-label",
        "a component name such as argo-cd",
        "Alertmanager (a label value the routes match in a regular expression, so no pattern characters)",
        names.dns1123_label,
    ),
]
ObjectName = Annotated[
    str,
    text_format(
        "object-name",
        "a Kubernetes object name such as grafana-oauth",
        "Kubernetes (a DNS-1123 subdomain of at most 253)",
        names.dns1123_subdomain,
    ),
]
DataKey = Annotated[
    str,
    text_format(
        "secret-key",
        "a Secret key such as client-secret",
        "Kubernetes (letters, digits, '-', '_', '.')",
        names.config_map_key,
        r"^[-._a-zA-Z0-9]+$",
    ),
]
LabelKey = Annotated[
    str,
    text_format("label-key", "a label key such as example.com/team", "Kubernetes", names.label_key),
]
LabelValue = Annotated[
    str,
    text_format("label-value", "a label value such as batch", "Kubernetes", names.label_value),
]
NodePoolName = Annotated[
    str,
    text_format(
        "node-pool-name",
        "a node pool name such as gpu-l4",
        "GKE (a lowercase letter first, at most 40)",
        partial(names.rfc1035_label, max_length=40),
        r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$",
    ),
]
Domain = Annotated[
    str,
    text_format(
        "domain",
        "a lowercase DNS domain such as ml.example.com",
        "DNS and certificate authorities",
        names.domain,
        r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$",
    ),
]


def _email_domain(text: str) -> str:
    return text if text == "*" else names.domain(text)


EmailDomain = Annotated[
    str,
    text_format(
        "email-domain",
        "an e-mail domain such as example.com, or * for any domain",
        "oauth2-proxy",
        _email_domain,
    ),
]
DnsName = Annotated[
    str,
    text_format("dns-name", "a DNS name such as mlops-platform or key.example.net.", "DNS (TSIG)", names.dns_name),
]
GcpProjectId = Annotated[
    str,
    text_format(
        "gcp-project-id",
        "a GCP project id such as mlops-dev-123456",
        "Google Cloud",
        names.gcp_project_id,
        r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
    ),
]
GcpRegion = Annotated[
    str,
    text_format(
        "gcp-region", "a GCP region such as europe-west4", "Google Cloud", names.gcp_region, r"^[a-z]+-[a-z]+[0-9]+$"
    ),
]
PubSubTopic = Annotated[
    str,
    text_format("pubsub-topic", "a Pub/Sub topic name such as model-events", "Pub/Sub", names.pubsub_topic),
]
BucketPrefix = Annotated[
    str,
    text_format(
        "bucket-prefix",
        "a bucket name prefix such as mlops",
        "Cloud Storage and S3 bucket names",
        names.bucket_prefix,
        r"^[a-z0-9][a-z0-9-]{2,40}$",
    ),
]
CloudDnsZone = Annotated[
    str,
    text_format(
        "cloud-dns-zone",
        "a Cloud DNS zone name such as ml-example-com",
        "Cloud DNS (a lowercase letter first, at most 63)",
        names.rfc1035_label,
    ),
]
MachineType = Annotated[
    str,
    text_format("machine-type", "a machine type such as e2-standard-4", "Compute Engine", names.machine_type),
]
CloudSqlTier = Annotated[
    str,
    text_format("cloud-sql-tier", "a Cloud SQL tier such as db-custom-2-7680", "Cloud SQL", names.cloud_sql_tier),
]
FeastProject = Annotated[
    str,
    text_format(
        "feast-project",
        "a Feast project name such as platform",
        "Feast (lowercase letters, digits and '_', from a letter, at most 40)",
        matching(r"^[a-z][a-z0-9_]{0,39}$", "lowercase letters, digits and '_', starting with a letter, at most 40"),
        r"^[a-z][a-z0-9_]{0,39}$",
    ),
]
PulumiConfigKey = Annotated[
    str,
    text_format(
        "config-key",
        "a config key name such as slackWebhook",
        "Pulumi config (letters and digits, from a letter, 3 to 63)",
        matching(r"^[a-zA-Z][a-zA-Z0-9]{2,62}$", "3 to 63 letters and digits, starting with a letter"),
        r"^[a-zA-Z][a-zA-Z0-9]{2,62}$",
    ),
]
ApplicationPattern = Annotated[
    str,
    text_format(
        "application-pattern", "an application name or glob such as model-*", "Argo CD", names.application_pattern
    ),
]

# --- schedules, times and durations ----------------------------------------------------------------------

StandardCron = Annotated[
    str,
    text_format(
        "cron",
        "a cron expression such as '0 2 * * *' or @daily",
        "robfig/cron's ParseStandard (Velero Schedules, Longhorn RecurringJobs and the CronJobs they run): five "
        "fields minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, weekday 0-6 or SUN-SAT, or "
        "@yearly/@monthly/@weekly/@daily/@hourly/@every <duration>",
        partial(cron.robfig, descriptors=True),
    ),
]
FiveFieldCron = Annotated[
    str,
    text_format(
        "five-field-cron",
        "a five-field cron expression such as '0 18 * * 5'",
        "Argo CD sync windows (robfig/cron without descriptors)",
        partial(cron.robfig, descriptors=False),
    ),
]
ElasticCron = Annotated[
    str,
    text_format(
        "elasticsearch-cron",
        "an Elasticsearch cron expression such as '0 30 1 * * ?'",
        "Elasticsearch (Quartz syntax: second minute hour day month weekday [year], '?' in exactly one of the "
        "day fields)",
        cron.quartz,
    ),
]
TimeOfDay = Annotated[
    str,
    text_format("time-of-day", "a time of day such as 03:00", "GKE maintenance windows", clock.time_of_day),
]
TimeZone = Annotated[
    str,
    text_format("time-zone", "a time zone such as UTC or Europe/Berlin", "Argo CD (IANA names)", clock.time_zone),
]
GoDuration = Annotated[
    str,
    text_format(
        "go-duration",
        "a duration such as 30s, 90m or 1h30m",
        "Go's time.ParseDuration (Argo CD, Knative); longer than zero",
        durations.go_duration,
    ),
]
PrometheusDuration = Annotated[
    str,
    text_format(
        "prometheus-duration",
        "a duration such as 15d or 1w3d",
        "Prometheus (units y w d h m s ms, largest first); longer than zero",
        durations.prometheus_duration,
        r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$",
    ),
]
ElasticAge = Annotated[
    str,
    text_format(
        "elasticsearch-age",
        "a duration such as 12h, 15d, 2w or 1y",
        "Elasticsearch lifecycle policies (weeks and years become days); longer than zero",
        durations.elastic_age,
        r"^\d+[hdwy]$",
    ),
]
CnpgRetention = Annotated[
    str,
    text_format(
        "cnpg-retention",
        "a retention such as 30d, 4w or 6m",
        "CloudNativePG (days, weeks or months); longer than zero",
        durations.cnpg_retention,
        r"^[1-9][0-9]*[dwm]$",
    ),
]
RefreshMinutes = Annotated[
    str,
    text_format(
        "refresh-minutes",
        "a number of minutes from 1m to 99m, such as 4m",
        "oauth2-proxy's cookie refresh (a Go duration the platform keeps to minutes)",
        matching(r"^[1-9][0-9]?m$", "a whole number of minutes, 1m to 99m"),
        r"^[1-9][0-9]?m$",
    ),
]

# --- quantities ------------------------------------------------------------------------------------------

ByteQuantity = Annotated[
    str,
    text_format(
        "byte-quantity",
        "a quantity of bytes such as 50Gi or 512Mi",
        "Kubernetes (a quantity of whole bytes, larger than zero)",
        quantities.byte_size,
    ),
]
ByteQuota = Annotated[
    str,
    text_format(
        "byte-quota",
        "a quantity of bytes such as 200Gi, or 0",
        "Kubernetes ResourceQuota (whole bytes, zero allowed)",
        partial(quantities.byte_size, zero=True),
    ),
]
CpuQuantity = Annotated[
    str,
    text_format(
        "cpu-quantity",
        "a CPU quantity such as 8 or 500m",
        "Kubernetes (larger than zero, in steps of at least 1m)",
        quantities.cpu,
    ),
]
JvmHeap = Annotated[
    str,
    text_format("jvm-heap", "a JVM heap size such as 512m or 4g", "the JVM's -Xms/-Xmx", quantities.jvm_size),
]

# --- versions --------------------------------------------------------------------------------------------

ElasticVersion = Annotated[
    str,
    text_format(
        "elastic-version",
        "an Elastic Stack version such as 9.4.3",
        "ECK and Elastic's image tags (no leading v)",
        partial(versions.semver, leading_v=False),
    ),
]
RayVersion = Annotated[
    str,
    text_format(
        "ray-version",
        "a Ray version such as 2.52.0",
        "KubeRay (a RayCluster's rayVersion) and rayproject/ray image tags (no leading v)",
        partial(versions.semver, leading_v=False),
    ),
]
ImageBuild = Annotated[
    str,
    text_format(
        "image-build",
        "a build of a default image: the 40-hex git commit of its sources, optionally @sha256:<64 hex digits>, "
        "such as 0123456789abcdef0123456789abcdef01234567",
        "the images workflow (.github/workflows/images.yaml tags each build with the last commit that changed its "
        "sources, and the digest names those bytes)",
        matching(
            r"^[0-9a-f]{40}(@sha256:[0-9a-f]{64})?$",
            "40 lowercase hex digits (a full git commit), then optionally @sha256: and 64 lowercase hex digits",
        ),
        r"^[0-9a-f]{40}(@sha256:[0-9a-f]{64})?$",
    ),
]
PinnedVersion = Annotated[
    str,
    text_format(
        "pinned-version",
        "an exact version such as 1.2.3, v1.2.3 or a release tag such as 26.03 (no 'latest', no ranges)",
        "Helm (chart versions are semantic versions) and git (release tags of git sources)",
        versions.release_tag,
    ),
]
