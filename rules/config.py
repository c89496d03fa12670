"""The rules file (YAML) turned into typed, validated :class:`Rule` objects.

Validation collects *every* problem, each as ``file:line: message`` with the
line of the offending key (from YAML's node marks), so ``lookout rules check``
can list them all at once and a bad SIGHUP reload can log why it was refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rules.durations import DurationError, parse_duration
from rules.log_query import LogFilter, LogQueryError, parse_log_query

KINDS = ("error_rate", "metric", "log_count", "new_issue", "absence")
AGGREGATES = ("avg", "sum", "min", "max", "count", "p50", "p95", "p99")
SEVERITIES = ("warning", "critical")
GROUP_LABELS = ("service", "environment")
THRESHOLD_KINDS = ("error_rate", "metric", "log_count")
DEFAULT_WINDOW = 300.0
DEFAULT_REPEAT = 4 * 3600.0
MAX_TEXT_WINDOW = 3600.0
# Who an unacknowledged alert pages: a Slack user or user group id, or a group's handle.
ESCALATION_TARGET = re.compile(r"[UWS][A-Z0-9]{2,20}|@[a-z0-9][a-z0-9._-]{0,79}")  # free-text log rules scan raw rows: keep that bounded

_COMMON_KEYS = {"name", "kind", "service", "environment", "window", "for", "keep_firing_for",
                "group_by", "repeat_interval", "channel", "runbook", "labels", "summary",
                "max_groups", "escalate_after", "escalate_to", "ack_timeout"}
_KIND_KEYS = {
    "error_rate": {"thresholds", "min_requests", "comparison"},
    "metric": {"thresholds", "metric", "aggregate", "comparison"},
    "log_count": {"thresholds", "query", "comparison"},
    "new_issue": {"severity"},
    "absence": {"severity"},
}


class RulesError(Exception):
    """The rules file is invalid; ``errors`` holds every ``file:line: message``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Thresholds:
    warning: float | None = None
    critical: float | None = None
    comparison: str = "above"  # "above": value > threshold breaches; "below": value < threshold
    # Hysteresis: a firing alert resolves only once the value is back past this
    # (below it for "above" rules, above it for "below" ones), not at the first
    # value under the warning threshold. None: the lowest breach threshold.
    resolve: float | None = None

    def breached(self, value: float) -> str | None:
        """The highest severity ``value`` breaches, or None."""
        for severity, limit in (("critical", self.critical), ("warning", self.warning)):
            if limit is not None and (value > limit if self.comparison == "above"
                                      else value < limit):
                return severity
        return None

    def holds(self, value: float | None) -> bool:
        """True when a firing alert with this ``value`` has not yet recovered past
        ``resolve`` (always False without one, or without data)."""
        if self.resolve is None or value is None:
            return False
        return value > self.resolve if self.comparison == "above" else value < self.resolve

    def limit(self, severity: str) -> float | None:
        return self.critical if severity == "critical" else self.warning


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule; times are seconds."""

    name: str
    kind: str
    line: int = 0
    service: str | None = None
    environment: str | None = None
    window: float = DEFAULT_WINDOW
    for_: float = 0.0
    keep_firing_for: float = 0.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    severity: str = "critical"  # fixed severity of absence / new_issue alerts
    min_requests: int = 0
    group_by: tuple[str, ...] = GROUP_LABELS
    repeat_interval: float = DEFAULT_REPEAT
    channel: str | None = None
    runbook: str | None = None
    summary: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    metric: str | None = None
    aggregate: str | None = None
    query: str | None = None
    log_filter: LogFilter | None = None
    max_groups: int | None = None
    """Most alert groups (pending or firing) the rule keeps at once; None: the
    ``LOOKOUT_ALERT_MAX_GROUPS`` default. Beyond it, one "N more groups" alert."""
    escalate_after: float | None = None
    """A firing alert nobody acknowledged pages ``escalate_to`` after this long, and again
    after each further ``escalate_after``, until acknowledged or resolved."""
    escalate_to: tuple[str, ...] = ()
    """Slack users (``U…``/``W…`` ids), user groups (``S…`` ids) or ``@handle`` of a group."""
    ack_timeout: float | None = None
    """An acknowledged alert still firing this long after the acknowledgement is
    unacknowledged again (repeats and pages resume), PagerDuty's acknowledgement timeout."""

    def describe(self) -> dict[str, Any]:
        """The rule as JSON for the API and UI."""
        return {
            "name": self.name, "kind": self.kind, "service": self.service,
            "environment": self.environment, "window": self.window, "for": self.for_,
            "keep_firing_for": self.keep_firing_for,
            "thresholds": ({"warning": self.thresholds.warning,
                            "critical": self.thresholds.critical,
                            "comparison": self.thresholds.comparison,
                            "resolve": self.thresholds.resolve}
                           if self.kind in THRESHOLD_KINDS else None),
            "severity": self.severity if self.kind not in THRESHOLD_KINDS else None,
            "min_requests": self.min_requests, "group_by": list(self.group_by),
            "repeat_interval": self.repeat_interval, "channel": self.channel,
            "runbook": self.runbook, "summary": self.summary, "labels": self.labels,
            "metric": self.metric, "aggregate": self.aggregate, "query": self.query,
            "max_groups": self.max_groups, "escalate_after": self.escalate_after,
            "escalate_to": list(self.escalate_to), "ack_timeout": self.ack_timeout,
        }


def load_rules(path: str | Path) -> list[Rule]:
    """Read and validate a rules file; raises :class:`RulesError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise RulesError([f"{path}: cannot read: {reason}"]) from None
    return parse_rules(text, str(path))


def parse_rules(text: str, filename: str = "<rules>") -> list[Rule]:
    return _Parser(filename).parse(text)


def _line_of(error: str) -> int:
    """Line number of a ``file:line: message`` error, for sorting in file order."""
    try:
        return int(error.split(": ", 1)[0].rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


class _Parser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[str] = []

    def error(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.errors.append(f"{self.filename}:{line}: {message}")

    def parse(self, text: str) -> list[Rule]:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark else 1
            problem = getattr(exc, "problem", None) or str(exc)
            raise RulesError([f"{self.filename}:{line}: invalid YAML: {problem}"]) from None
        finally:
            loader.dispose()
        self.constructor = yaml.SafeLoader("")
        rules = self._document(root)
        if self.errors:
            raise RulesError(sorted(self.errors, key=_line_of))
        return rules

    def value(self, node: yaml.Node) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def _document(self, root: yaml.Node | None) -> list[Rule]:
        if root is None:
            return []
        if not isinstance(root, yaml.MappingNode):
            self.error(root, "the file must be a mapping with a `rules:` list")
            return []
        rules_node = None
        for key, value in root.value:
            if key.value == "rules":
                rules_node = value
            else:
                self.error(key, f"unknown top-level key {key.value!r} (expected `rules`)")
        if rules_node is None:
            self.error(root, "missing `rules:` list")
            return []
        if isinstance(rules_node, yaml.ScalarNode) and self.value(rules_node) is None:
            return []
        if not isinstance(rules_node, yaml.SequenceNode):
            self.error(rules_node, "`rules` must be a list")
            return []
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for item in rules_node.value:
            rule = self._rule(item)
            if rule is None:
                continue
            if rule.name in seen:
                self.error(item, f"duplicate rule name {rule.name!r} "
                                 f"(first on line {seen[rule.name]})")
                continue
            seen[rule.name] = rule.line
            rules.append(rule)
        return rules

    def _rule(self, node: yaml.Node) -> Rule | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "each rule must be a mapping")
            return None
        before = len(self.errors)
        fields = {k.value: (k, v) for k, v in node.value}
        name = self._str(fields, "name", node, required=True)
        where = f"rule {name!r}: " if name else "rule: "
        kind = self._str(fields, "kind", node, required=True, where=where)
        if kind is not None and kind not in KINDS:
            self.error(fields["kind"][1],
                       f"{where}unknown kind {kind!r} (one of {', '.join(KINDS)})")
            kind = None
        allowed = _COMMON_KEYS | (_KIND_KEYS[kind] if kind else set().union(*_KIND_KEYS.values()))
        for key, (knode, _v) in fields.items():
            if key not in allowed:
                hint = f" for kind {kind}" if kind and key in set().union(*_KIND_KEYS.values()) \
                    else ""
                self.error(knode, f"{where}unknown key {key!r}{hint}")
        out: dict[str, Any] = {
            "service": self._str(fields, "service", node, where=where),
            "environment": self._str(fields, "environment", node, where=where),
            "channel": self._str(fields, "channel", node, where=where),
            "runbook": self._str(fields, "runbook", node, where=where),
            "summary": self._str(fields, "summary", node, where=where),
        }
        for key, attr, default in (("window", "window", DEFAULT_WINDOW), ("for", "for_", 0.0),
                                   ("keep_firing_for", "keep_firing_for", 0.0),
                                   ("repeat_interval", "repeat_interval", DEFAULT_REPEAT)):
            out[attr] = self._duration(fields, key, default, where)
        if out["window"] is not None and out["window"] < 60:
            self.error(fields["window"][1], f"{where}window must be at least 1m "
                                            "(rules read per-minute rollups)")
        if out["repeat_interval"] is not None and out["repeat_interval"] < 60:
            self.error(fields["repeat_interval"][1], f"{where}repeat_interval must be at least 1m")
        out["labels"] = self._labels(fields, where)
        out["group_by"] = self._group_by(fields, where)
        self._escalation(fields, node, out, where)
        if kind in THRESHOLD_KINDS:
            out["thresholds"] = self._thresholds(fields, node, where)
        if kind in ("absence", "new_issue"):
            severity = self._str(fields, "severity", node, where=where) or (
                "critical" if kind == "absence" else "warning")
            if severity not in SEVERITIES:
                self.error(fields["severity"][1], f"{where}severity must be warning or critical")
            out["severity"] = severity
        if kind == "error_rate" and "min_requests" in fields:
            raw = self.value(fields["min_requests"][1])
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                self.error(fields["min_requests"][1],
                           f"{where}min_requests must be a whole number >= 0")
            else:
                out["min_requests"] = raw
        if "max_groups" in fields:
            raw = self.value(fields["max_groups"][1])
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                self.error(fields["max_groups"][1],
                           f"{where}max_groups must be a whole number >= 1")
            else:
                out["max_groups"] = raw
        if kind == "metric":
            out["metric"] = self._str(fields, "metric", node, required=True, where=where)
            out["aggregate"] = self._str(fields, "aggregate", node, required=True, where=where)
            if out["aggregate"] is not None and out["aggregate"] not in AGGREGATES:
                self.error(fields["aggregate"][1], f"{where}unknown aggregate "
                           f"{out['aggregate']!r} (one of {', '.join(AGGREGATES)})")
        if kind == "log_count":
            out["query"] = self._str(fields, "query", node, required=True, where=where)
            if out["query"] is not None:
                try:
                    out["log_filter"] = parse_log_query(out["query"])
                except LogQueryError as exc:
                    self.error(fields["query"][1], f"{where}{exc}")
                else:
                    if (not out["log_filter"].uses_rollups and out["window"]
                            and out["window"] > MAX_TEXT_WINDOW):
                        self.error(fields["window"][1], f"{where}a query with free text scans raw "
                                   "log rows: window must be at most 1h")
        if len(self.errors) > before or name is None or kind is None:
            return None
        return Rule(name=name, kind=kind, line=node.start_mark.line + 1, **out)

    def _str(self, fields: dict[str, Any], key: str, node: yaml.Node, *, required: bool = False,
             where: str = "rule: ") -> str | None:
        if key not in fields:
            if required:
                self.error(node, f"{where}missing required key {key!r}")
            return None
        vnode = fields[key][1]
        value = self.value(vnode)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or value == "":
            self.error(vnode, f"{where}{key} must be a non-empty string")
            return None
        return str(value)

    def _duration(self, fields: dict[str, Any], key: str, default: float,
                  where: str) -> float | None:
        if key not in fields:
            return default
        vnode = fields[key][1]
        try:
            return parse_duration(self.value(vnode))
        except DurationError as exc:
            self.error(vnode, f"{where}{key}: {exc}")
            return None

    def _escalation(self, fields: dict[str, Any], node: yaml.Node, out: dict[str, Any],
                    where: str) -> None:
        """``escalate_after`` and ``escalate_to``: both or neither."""
        after = self._duration(fields, "escalate_after", None, where)  # type: ignore[arg-type]
        if "escalate_after" in fields and after is not None and after < 60:
            self.error(fields["escalate_after"][1], f"{where}escalate_after must be at least 1m")
            after = None
        targets: tuple[str, ...] = ()
        if "escalate_to" in fields:
            value = self.value(fields["escalate_to"][1])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, str) and ESCALATION_TARGET.fullmatch(v) for v in value):
                self.error(fields["escalate_to"][1], f"{where}escalate_to must list Slack user "
                           "ids (U…), user group ids (S…) or user group handles (@oncall)")
            else:
                targets = tuple(dict.fromkeys(value))
        if ("escalate_after" in fields) != ("escalate_to" in fields):
            self.error(node, f"{where}escalate_after and escalate_to go together")
        out["escalate_after"] = after
        out["escalate_to"] = targets
        timeout = self._duration(fields, "ack_timeout", None, where)  # type: ignore[arg-type]
        if timeout is not None and timeout < 60:
            self.error(fields["ack_timeout"][1], f"{where}ack_timeout must be at least 1m")
            timeout = None
        out["ack_timeout"] = timeout

    def _labels(self, fields: dict[str, Any], where: str) -> dict[str, str]:
        if "labels" not in fields:
            return {}
        value = self.value(fields["labels"][1])
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in value.items()):
            self.error(fields["labels"][1], f"{where}labels must be a mapping of names to strings")
            return {}
        return {k: str(v) for k, v in value.items()}

    def _group_by(self, fields: dict[str, Any], where: str) -> tuple[str, ...]:
        if "group_by" not in fields:
            return GROUP_LABELS
        value = self.value(fields["group_by"][1])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(v in GROUP_LABELS for v in value):
            self.error(fields["group_by"][1],
                       f"{where}group_by must be a list of: {', '.join(GROUP_LABELS)}")
            return GROUP_LABELS
        return tuple(dict.fromkeys(value))

    def _thresholds(self, fields: dict[str, Any], node: yaml.Node, where: str) -> Thresholds:
        comparison = "above"
        if "comparison" in fields:
            comparison = str(self.value(fields["comparison"][1]))
            if comparison not in ("above", "below"):
                self.error(fields["comparison"][1], f"{where}comparison must be above or below")
                comparison = "above"
        if "thresholds" not in fields:
            self.error(node, f"{where}missing required key 'thresholds' "
                             "(a mapping with warning and/or critical)")
            return Thresholds()
        tnode = fields["thresholds"][1]
        if not isinstance(tnode, yaml.MappingNode):
            self.error(tnode, f"{where}thresholds must be a mapping with warning and/or critical")
            return Thresholds()
        values: dict[str, float] = {}
        for k, v in tnode.value:
            if k.value not in (*SEVERITIES, "resolve"):
                self.error(k, f"{where}unknown threshold {k.value!r} "
                              "(warning, critical or resolve)")
                continue
            number = self.value(v)
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                self.error(v, f"{where}thresholds.{k.value} must be a number")
                continue
            values[k.value] = float(number)
        warning, critical = values.get("warning"), values.get("critical")
        if not tnode.value or set(values) == {"resolve"}:
            self.error(tnode, f"{where}thresholds needs warning and/or critical")
        resolve = values.get("resolve")
        lowest = warning if warning is not None else critical
        if resolve is not None and lowest is not None and (
                resolve > lowest if comparison == "above" else resolve < lowest):
            side = "at or below" if comparison == "above" else "at or above"
            self.error(tnode, f"{where}thresholds: resolve ({resolve:g}) must be {side} "
                              f"the lowest breach threshold ({lowest:g})")
        if warning is not None and critical is not None:
            if comparison == "above" and warning >= critical:
                self.error(tnode, f"{where}thresholds: warning ({warning:g}) must be below "
                                  f"critical ({critical:g})")
            if comparison == "below" and warning <= critical:
                self.error(tnode, f"{where}thresholds: with comparison below, warning "
                                  f"({warning:g}) must be above critical ({critical:g})")
        return Thresholds(warning, critical, comparison, resolve)
