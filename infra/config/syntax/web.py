"""URLs, e-mail addresses, container image references, git repositories and refs, OAuth scopes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from infra.config.syntax import FormatError
from infra.config.syntax.network import host, port_number

_IMAGE_PATH_COMPONENT = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_SCP_LIKE_GIT = re.compile(r"^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):(?!/)\S+$")
_GIT_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def url(text: str, schemes: tuple[str, ...], *, path: bool = True) -> str:
    """An absolute URL with one of `schemes`, a valid host and port, no spaces; without a path, query or
    fragment when `path` is False."""
    if any(character.isspace() for character in text):
        raise FormatError("must not contain spaces")
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise FormatError(f"needs the scheme {' or '.join(f'{scheme}://' for scheme in schemes)}")
    if not parts.netloc or parts.hostname is None:
        raise FormatError("needs a host after the scheme")
    server = parts.netloc.rpartition("@")[2]
    name = parts.hostname if not server.startswith("[") else server[1:].partition("]")[0]
    host(name)
    try:
        port = parts.port
    except ValueError:
        raise FormatError("has a port that is not a number from 1 to 65535") from None
    if port is not None:
        port_number(str(port))
    if not path and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise FormatError("must be scheme://host[:port] only, without a path")
    return text


def email(text: str) -> str:
    """A plain address (`name@example.com`) as email-validator reads it: no display name, no quoting, a domain
    with a dot that is no special-use name. The value is kept as written (identity providers compare it)."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise FormatError(str(error)) from None
    return text


def image(text: str, *, digest: bool) -> str:
    """A container image reference `[registry/]path[:tag][@sha256:...]` as container runtimes read it; `digest`
    requires the digest, else a tag or a digest is required (an image without either would be `latest`)."""
    rest, at, image_digest = text.partition("@")
    if at and not _IMAGE_DIGEST.match(image_digest):
        raise FormatError("a digest is sha256: and 64 lowercase hex digits")
    if digest and not at:
        raise FormatError("needs a digest (@sha256:...)")
    name, tag = rest, ""
    if ":" in rest.rpartition("/")[2]:
        name, _, tag = rest.rpartition(":")
        if not _IMAGE_TAG.match(tag):
            raise FormatError(f"{tag!r} is not a tag (up to 128 letters, digits, '_', '.', '-')")
    if not at and not tag:
        raise FormatError("needs a tag or a digest")
    first, slash, path = name.partition("/")
    # As Docker decides: a first component with a dot or a port, or `localhost`, names the registry.
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry(name)
    else:
        _repository_path(name)
    return text


def registry(text: str) -> str:
    """`host[:port][/path]`: a registry, and optionally a repository path of lowercase components in it."""
    server, _, path = text.partition("/")
    name, colon, port = server.partition(":")
    host(name)
    if colon:
        port_number(port)
    if path:
        _repository_path(path)
    return text


def _repository_path(path: str) -> None:
    for component in path.split("/"):
        if not _IMAGE_PATH_COMPONENT.match(component):
            raise FormatError(f"{component!r} is not a repository path component (lowercase letters and digits)")


def oci_registry(text: str) -> str:
    """`oci://host[:port][/path]`: where Helm pushes and pulls charts as OCI artifacts (`helm push`)."""
    if not text.startswith("oci://"):
        raise FormatError("must start with oci://")
    if text.endswith("/"):
        raise FormatError("must not end with / (helm push appends the chart's name)")
    return registry(text.removeprefix("oci://"))


def git_repository(text: str) -> str:
    """A repository Argo CD can clone: an https://, http:// or ssh:// URL, or the scp-like `git@host:path`."""
    if _SCP_LIKE_GIT.match(text):
        host(_SCP_LIKE_GIT.match(text).group(1))  # type: ignore[union-attr]
        return text
    url(text, ("https", "http", "ssh"))
    if urlsplit(text).path in ("", "/"):
        raise FormatError("needs the repository's path after the host")
    return text


def git_url_prefix(text: str) -> str:
    """A URL prefix git's `url.<base>.insteadOf` rewrites: ends in `/`, and holds nothing that would break a git
    config section name (quotes, backslashes) or the argo-cd chart's templating (braces)."""
    if not text.endswith("/"):
        raise FormatError("must end with / (a prefix of repository URLs)")
    if any(character in text for character in '"\\{}'):
        raise FormatError("must not contain quotes, backslashes or braces")
    return url(text, ("https", "http", "ssh"))


def git_ref(text: str) -> str:
    """A branch or tag name git accepts (git check-ref-format), or a commit hash."""
    if (
        not text
        or _GIT_REF_FORBIDDEN.search(text)
        or ".." in text
        or "@{" in text
        or "//" in text
        or text == "@"
        or text.startswith(("/", "-"))
        or text.endswith(("/", ".", ".lock"))
        or any(part.startswith(".") or part.endswith(".lock") for part in text.split("/"))
    ):
        raise FormatError("is not a branch, tag or commit git accepts (no spaces, '..', '~^:?*[\\', ...)")
    return text


def scope(text: str) -> str:
    """One OAuth 2.0 scope token (RFC 6749): printable ASCII without spaces, '\"' or '\\'."""
    if not _SCOPE_TOKEN.match(text):
        raise FormatError("a scope is printable ASCII without spaces, '\"' or '\\'")
    return text


def scopes(text: str) -> str:
    """Space-separated OAuth scope tokens, such as `openid email profile`."""
    tokens = text.split(" ")
    if not text or any(not token for token in tokens):
        raise FormatError("needs scopes separated by single spaces")
    for token in tokens:
        scope(token)
    return text
