"""The search-space YAML schema as frozen pydantic models (unknown keys are errors). Pure, validated data: the
checks that need files (paths, data languages, matrix sizes) live in `validate.py`; what a space computes
(groups, parameters, sampler, seeds, merges, scores) in `compiled.py`, built once at load.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lors_search.merging.params import check_one_rank_form
from lors_search.merging.registry import check_method_name, get_method, method_names
from lors_search.space.searchers import make_sampler

if TYPE_CHECKING:
    import optuna

_CONFIG = ConfigDict(frozen=True, extra="forbid")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

RANGE_PARAMS = ("rank_ratio", "rank", "density", "scale")
BUILTIN_SEEDS = ("paper_defaults", "task_arithmetic")
TASK_NAMES = ("transcribe", "translate")

# Objective metrics: name -> mode. normalized_performance / gain_retained are weighted by asr/st weights.
OBJECTIVE_MODES: dict[str, Literal["max", "min"]] = {
    "normalized_performance": "max",
    "gain_retained": "max",
    "asr_np": "max",
    "st_np": "max",
    "asr_gain_retained": "max",
    "st_gain_retained": "max",
    "asr_wer": "min",
    "asr_cer": "min",
    "st_bleu": "max",
}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ParamRange(BaseModel):
    """A searched range `{low, high, log, step}` or a fixed `{value}` (a bare number means fixed)."""

    model_config = _CONFIG

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    value: int | float | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number or a mapping {low, high, log} / {value}")
        if isinstance(value, int | float):
            return {"value": value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ParamRange:
        # NaN passes every comparison below and infinity overflows samplers after Ray has started; refuse
        # both here, at load.
        for key in ("low", "high", "step", "value"):
            number = getattr(self, key)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{key} must be a finite number, got {number}")
        if self.value is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("give either a fixed value or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or a fixed value)")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, got {self.low}")
        if self.step is not None:
            if self.log:
                raise ValueError("step cannot be combined with log")
            if self.step <= 0:
                raise ValueError(f"step must be > 0, got {self.step}")
        return self

    @property
    def fixed(self) -> bool:
        return self.value is not None

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high), both equal to the value when fixed."""
        if self.value is not None:
            return (self.value, self.value)
        return (self.low, self.high)  # type: ignore[return-value]

    def contains(self, value: float) -> bool:
        return range_contains(*self.bounds, None if self.fixed else self.step, value)

    def describe(self) -> str:
        return range_text(self.low, self.high, self.log, self.step, self.value)


def range_contains(low: float, high: float, step: float | None, value: float) -> bool:
    """Whether `value` lies in [low, high] and, with a step, on the grid from low (what a range admits)."""
    if not low <= value <= high:
        return False
    if step is not None:
        steps = (value - low) / step
        return abs(steps - round(steps)) < 1e-9
    return True


def range_text(low: Any, high: Any, log: bool, step: Any, value: Any) -> str:
    """A range as error messages show it: `[low, high, log]`, `[low, high, step s]` or `fixed at v`."""
    if value is not None:
        return f"fixed at {value}"
    extra = ", log" if log else (f", step {step}" if step is not None else "")
    return f"[{low}, {high}{extra}]"


class ExpertEntry(BaseModel):
    """One expert: a name (used in parameter names `scale.<name>` and in overrides), its checkpoint (a local
    directory or `.pt`, or `hf:owner/name`) and the language it was fine-tuned for."""

    model_config = _CONFIG

    name: str
    path: str = Field(min_length=1)
    language: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _simple_name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"expert name {name!r} must be letters, digits, '_' or '-' (it goes into parameter names)")
        return name


class DataEntry(BaseModel):
    """The dev data: a corpus directory (DatasetDict saved with save_to_disk), the split searched on, the
    languages (default: the experts' languages) and tasks scored, the evaluation batch size."""

    model_config = _CONFIG

    path: str = Field(min_length=1)
    split: str = "dev"
    languages: tuple[str, ...] | None = None
    tasks: tuple[Literal["transcribe", "translate"], ...] = TASK_NAMES
    batch_size: int = Field(32, ge=1)

    _as_tuples = field_validator("languages", "tasks", mode="before")(_tuple)

    @field_validator("split")
    @classmethod
    def _not_test(cls, split: str) -> str:
        if split == "test":
            raise ValueError(
                "the test split is reserved for final reports; a search must select on dev (use split: dev)"
            )
        if split not in ("train", "dev"):
            raise ValueError(f"unknown split {split!r}; expected dev (or train)")
        return split

    @field_validator("tasks")
    @classmethod
    def _some_tasks(cls, tasks: tuple[str, ...]) -> tuple[str, ...]:
        if not tasks:
            raise ValueError("give at least one task (transcribe, translate)")
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks repeat: {list(tasks)}")
        return tuple(task for task in TASK_NAMES if task in tasks)

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, languages: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if languages is not None:
            if not languages:
                raise ValueError("languages is empty (leave it out to use the experts' languages)")
            if len(set(languages)) != len(languages):
                raise ValueError(f"languages repeat: {list(languages)}")
        return languages


class StackGroups(BaseModel):
    """Tie `size` consecutive layers of one stack into a group sharing its parameters ("all": one group)."""

    model_config = _CONFIG

    size: int | Literal["all"] = 1

    @field_validator("size")
    @classmethod
    def _positive(cls, size: int | str) -> int | str:
        if isinstance(size, int) and size < 1:
            raise ValueError(f"group size must be >= 1, got {size}")
        return size


class Groups(BaseModel):
    """Layer grouping: per stack, and per module kind (self_attn, cross_attn, ffn) or shared by a layer."""

    model_config = _CONFIG

    encoder: StackGroups = StackGroups()
    decoder: StackGroups = StackGroups()
    modules: Literal["per_kind", "shared"] = "per_kind"


class GroupRanges(BaseModel):
    """Ranges that replace the space-wide ones for the groups a `group_ranges` pattern matches."""

    model_config = _CONFIG

    rank_ratio: ParamRange | None = None
    rank: ParamRange | None = None
    density: ParamRange | None = None
    scale: ParamRange | None = None


class Selection(BaseModel):
    """Honest selection: the last `clips_per_language` dev clips of each language (in the stratified fidelity
    order, so by language, form and voice) are held out of the search; after it, the best `candidates`
    trials by search score (plus task arithmetic 1/N and paper-default LoRS as references) are re-scored on
    them and the winner is chosen there, so the search's own optimism does not pick it."""

    model_config = _CONFIG

    clips_per_language: int = Field(40, ge=1)
    candidates: int = Field(8, ge=1)


class SeedSpec(BaseModel):
    """A custom seed point: flat parameter names (or fnmatch patterns such as `*.density`) to values."""

    model_config = _CONFIG

    name: str = Field(min_length=1)
    params: dict[str, int | float] = Field(min_length=1)


class Objective(BaseModel):
    """What the search maximises (or minimises).

    kind normalized_performance (default) or gain_retained: one objective, the weighted mean of its
    per-task means (weights asr_weight for transcribe, st_weight for translate); multi: the metrics in
    `objectives` (e.g. [asr_wer, st_bleu]), searched as a Pareto front.
    """

    model_config = _CONFIG

    kind: Literal["normalized_performance", "gain_retained", "multi"] = "normalized_performance"
    asr_weight: float = Field(1.0, ge=0)
    st_weight: float = Field(1.0, ge=0)
    asr_error: Literal["wer", "cer"] = "wer"
    objectives: tuple[str, ...] = ()

    _as_tuple = field_validator("objectives", mode="before")(_tuple)

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        if self.asr_weight == 0 and self.st_weight == 0:
            raise ValueError("asr_weight and st_weight cannot both be 0")
        if self.kind == "multi":
            if len(self.objectives) < 2:
                raise ValueError("kind multi needs at least two objectives, e.g. objectives: [asr_wer, st_bleu]")
            unknown = [name for name in self.objectives if name not in OBJECTIVE_MODES]
            if unknown:
                raise ValueError(f"unknown objective {unknown[0]!r} (known: {', '.join(OBJECTIVE_MODES)})")
            if len(set(self.objectives)) != len(self.objectives):
                raise ValueError(f"objectives repeat: {list(self.objectives)}")
        elif self.objectives:
            raise ValueError(f"objectives are only for kind multi (kind is {self.kind})")
        return self

    def names(self) -> tuple[str, ...]:
        return self.objectives if self.kind == "multi" else (self.kind,)


class Budget(BaseModel):
    """How much to search: trials, wall-clock seconds (None: no limit), failed trials tolerated (Tune's
    FailureConfig.max_failures: retries of a failed trial)."""

    model_config = _CONFIG

    num_samples: int = Field(40, ge=1)
    time_budget_s: float | None = Field(None, gt=0)
    max_failures: int = Field(3, ge=0)


class Fidelity(BaseModel):
    """Multi-fidelity rungs: dev clips per language a trial is scored on, ascending; None = the whole split
    (last rung only). One rung means no early stopping. reduction_factor: ASHA keeps 1 / it per rung."""

    model_config = _CONFIG

    n_per_language: tuple[int | None, ...] = (None,)
    reduction_factor: int = Field(3, ge=2)

    _as_tuple = field_validator("n_per_language", mode="before")(_tuple)

    @field_validator("n_per_language")
    @classmethod
    def _ascending(cls, rungs: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if not rungs:
            raise ValueError("give at least one rung (null = the whole split)")
        if None in rungs[:-1]:
            raise ValueError("null (the whole split) can only be the last rung")
        sizes = [rung for rung in rungs if rung is not None]
        if any(size < 1 for size in sizes):
            raise ValueError(f"rungs must be >= 1 clip per language, got {list(rungs)}")
        if any(b <= a for a, b in pairwise(sizes)):
            raise ValueError(f"rungs must be strictly ascending, got {list(rungs)}")
        return rungs


class Searcher(BaseModel):
    """The Optuna sampler behind OptunaSearch: tpe (default), cmaes, random or nsga2, and its seed."""

    model_config = _CONFIG

    algorithm: Literal["tpe", "cmaes", "random", "nsga2"] = "tpe"
    seed: int = Field(0, ge=0)
    n_startup_trials: int | None = Field(None, ge=0)

    def optuna_sampler(self) -> optuna.samplers.BaseSampler:
        """A fresh Optuna sampler for this searcher (seeded)."""
        return make_sampler(self)


# The methods whose space can express task arithmetic 1/N (the `task_arithmetic` seed is a point of theirs).
TASK_ARITHMETIC_HOSTS = ("task_arithmetic", "lors", "lowrank", "sparse")

# Keys of a space that configure one method's parameters (top level, or under methods.<name>).
METHOD_KEYS = ("rank_ratio", "rank", "density", "scale", "params", "group_ranges", "scale_per")


def _declared_range(method: str, name: str) -> dict[str, Any] | None:
    """The search range the method declares for `name` (None: not searched unless the space names it)."""
    found = get_method(method).param(name).search
    return None if found is None else {"low": found.low, "high": found.high, "log": found.log}


def method_defaults(raw: dict[str, Any], method: str) -> dict[str, Any]:
    """`raw` with the declared default ranges of `method`'s parameters filled in where the space gives none,
    so the resolved YAML is explicit: rank form, density and scale, plus every other declared parameter that
    has a search range (e.g. sv_fraction, dense_scale)."""
    spec = get_method(method)
    out = dict(raw)
    if spec.uses_rank and out.get("rank") is None and out.get("rank_ratio") is None:
        found = _declared_range(method, "rank_ratio")
        if found is not None:
            out["rank_ratio"] = found
    for name in ("density", "scale"):
        if name in spec.params and out.get(name) is None:
            found = _declared_range(method, name)
            if found is not None:
                out[name] = found
    extras = dict(out.get("params") or {})
    for name in spec.extra_params:
        if name not in extras:
            found = _declared_range(method, name)
            if found is not None:
                extras[name] = found
    if extras:
        out["params"] = extras
    return out


class SearchSpace(BaseModel):
    """A validated search space: what is merged, which parameters are searched over which ranges, how trials
    are scored, and the search's budget. Load with `load_search_space`, which returns it compiled
    (`compiled.CompiledSpace`: sampler, seeds, merges, scores). See docs/search-space.md."""

    model_config = _CONFIG

    name: str = Field(min_length=1)
    base: str = Field(min_length=1)
    experts: tuple[ExpertEntry, ...] = Field(min_length=1)
    data: DataEntry
    method: str = "lors"
    groups: Groups = Groups()
    rank_ratio: ParamRange | None = None
    rank: ParamRange | None = None
    density: ParamRange | None = None
    scale: ParamRange | None = None
    scale_per: Literal["global", "expert", "group", "group_expert"] = "global"
    params: dict[str, ParamRange] = {}
    group_ranges: dict[str, GroupRanges] = {}
    methods: dict[str, dict[str, Any]] | None = None
    selection: Selection | None = None
    seeds: tuple[Literal["paper_defaults", "task_arithmetic"] | SeedSpec, ...] = BUILTIN_SEEDS
    objective: Objective = Objective()
    budget: Budget = Budget()
    fidelity: Fidelity = Fidelity()
    searcher: Searcher = Searcher()
    compare: dict[str, str] = {}

    _as_tuples = field_validator("experts", mode="before")(_tuple)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_entries(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError("seeds must be a list (paper_defaults, task_arithmetic or {name, params})")
        out: list[Any] = []
        for index, entry in enumerate(value):
            if isinstance(entry, str):
                if entry not in BUILTIN_SEEDS:
                    raise ValueError(
                        f"seeds.{index}: unknown seed {entry!r} (built-in: {', '.join(BUILTIN_SEEDS)}; "
                        "or a custom {name, params})"
                    )
                out.append(entry)
            elif isinstance(entry, SeedSpec):
                out.append(entry)
            else:
                try:
                    out.append(SeedSpec.model_validate(entry))
                except ValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(map(str, e['loc'])) or 'entry'}: {str(e['msg']).removeprefix('Value error, ')}"
                        for e in exc.errors()
                    )
                    raise ValueError(f"seeds.{index}: {problems}") from None
        return tuple(out)

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, raw: Any) -> Any:
        """Fill the default ranges of the parameters the method uses (so the resolved YAML is explicit)."""
        if not isinstance(raw, dict):
            return raw
        if raw.get("methods") is not None:
            # Several methods: each one's ranges live under methods.<name> (checked in _check_methods).
            if "seeds" in raw:
                return raw
            methods = raw["methods"] if isinstance(raw["methods"], dict) else {}
            seeds = [
                seed for seed in BUILTIN_SEEDS
                if seed != "task_arithmetic" or any(host in methods for host in TASK_ARITHMETIC_HOSTS)
            ]
            return {"seeds": seeds, **raw}
        method = raw.get("method", "lors")
        if not isinstance(method, str) or method not in method_names():
            return raw
        out = method_defaults(raw, method)
        if "seeds" not in out:
            # Only LoRS-family methods and task arithmetic can express task arithmetic inside their space.
            out["seeds"] = [
                seed for seed in BUILTIN_SEEDS
                if seed != "task_arithmetic" or method in TASK_ARITHMETIC_HOSTS
            ]
        return out

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        return check_method_name(name)

    @field_validator("rank")
    @classmethod
    def _rank_ints(cls, value: ParamRange | None) -> ParamRange | None:
        if value is not None:
            _check_rank(value)
        return value

    @field_validator("rank_ratio")
    @classmethod
    def _ratio_bounds(cls, value: ParamRange | None) -> ParamRange | None:
        if value is not None:
            _check_unit(value, "rank_ratio", allow_zero=True)
        return value

    @field_validator("density")
    @classmethod
    def _density_bounds(cls, value: ParamRange | None) -> ParamRange | None:
        if value is not None:
            _check_unit(value, "density", allow_zero=False)
        return value

    @field_validator("scale")
    @classmethod
    def _scale_bounds(cls, value: ParamRange | None) -> ParamRange | None:
        if value is not None:
            _check_scale(value)
        return value

    @field_validator("group_ranges")
    @classmethod
    def _group_range_bounds(cls, value: dict[str, GroupRanges]) -> dict[str, GroupRanges]:
        for ranges in value.values():
            if ranges.rank is not None:
                _check_rank(ranges.rank)
            if ranges.rank_ratio is not None:
                _check_unit(ranges.rank_ratio, "rank_ratio", allow_zero=True)
            if ranges.density is not None:
                _check_unit(ranges.density, "density", allow_zero=False)
            if ranges.scale is not None:
                _check_scale(ranges.scale)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SearchSpace:
        self._check_common()
        if self.methods is not None:
            self._check_methods()
            return self
        method = get_method(self.method)
        if self.scale is None:
            raise ValueError(f"scale: method {self.method!r} declares no search range for scale; give one")
        for name, given in self.params.items():
            if name not in method.params:
                raise ValueError(f"params.{name}: method {self.method!r} takes no {name} (it takes: {', '.join(method.params)})")
            if name in RANGE_PARAMS:
                raise ValueError(f"params.{name}: give {name} as its own key, not under params")
            _check_declared(method.param(name), given, f"params.{name}")
        check_one_rank_form(self.rank, self.rank_ratio)
        for name in ("rank", "rank_ratio", "density"):
            if getattr(self, name) is not None and name not in method.params:
                raise ValueError(
                    f"{name}: method {self.method!r} takes no {name} (it takes: {', '.join(method.params)}); remove it"
                )
        for pattern, ranges in self.group_ranges.items():
            for name in RANGE_PARAMS:
                given = getattr(ranges, name)
                if given is None:
                    continue
                if name != "scale" and name not in method.params:
                    raise ValueError(f"group_ranges.{pattern}.{name}: method {self.method!r} takes no {name}")
                if name == "scale" and self.scale_per not in ("group", "group_expert"):
                    raise ValueError(
                        f"group_ranges.{pattern}.scale: per-group scales need scale_per: group or group_expert"
                    )
                if name in ("rank", "rank_ratio") and getattr(self, name) is None:
                    other = "rank_ratio" if name == "rank" else "rank"
                    raise ValueError(f"group_ranges.{pattern}.{name}: the space searches {other}, not {name}")
        return self

    def _check_common(self) -> None:
        names = [expert.name for expert in self.experts]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"experts: two experts are named {repeated[0]!r}")
        languages = [expert.language for expert in self.experts]
        repeated = sorted({code for code in languages if languages.count(code) > 1})
        if repeated:
            raise ValueError(f"experts: two experts have language {repeated[0]!r} (one expert per language)")
        if self.data.languages is not None:
            missing = [code for code in self.data.languages if code not in languages]
            if missing:
                raise ValueError(f"data.languages: {missing[0]!r} has no expert (experts cover {', '.join(languages)})")
            uncovered = [code for code in languages if code not in self.data.languages]
            if uncovered:
                raise ValueError(
                    f"data.languages: the expert language {uncovered[0]!r} is not scored "
                    f"(add it to data.languages or remove the expert)"
                )
        seed_names = [seed if isinstance(seed, str) else seed.name for seed in self.seeds]
        repeated = sorted({name for name in seed_names if seed_names.count(name) > 1})
        if repeated:
            raise ValueError(f"seeds: two seed points are named {repeated[0]!r}")
        for objective in self.objective.names():
            if objective.startswith("st_") and "translate" not in self.data.tasks:
                raise ValueError(f"objective.objectives: {objective} needs the translate task in data.tasks")
            if objective.startswith("asr_") and "transcribe" not in self.data.tasks:
                raise ValueError(f"objective.objectives: {objective} needs the transcribe task in data.tasks")
        if self.objective.kind == "multi" and self.searcher.algorithm == "cmaes":
            raise ValueError("searcher.algorithm: cmaes is single-objective; use nsga2 or tpe for kind multi")

    def _check_methods(self) -> None:
        """A space over several methods: the method is a categorical parameter and each method's ranges sit
        under methods.<name> (nothing method-specific at the top level)."""
        assert self.methods is not None
        if not self.methods:
            raise ValueError("methods: give at least one method (or use method: NAME)")
        for name in self.methods:
            try:
                check_method_name(name)
            except ValueError as exc:
                raise ValueError(f"methods: {exc}") from None
        defaults = {"params": {}, "group_ranges": {}, "scale_per": "global"}  # what a resolved YAML spells out
        top = [
            key for key in METHOD_KEYS
            if key in self.model_fields_set and getattr(self, key) is not None and getattr(self, key) != defaults.get(key)
        ]
        if top:
            raise ValueError(f"{top[0]}: with methods, give it under methods.<name>.{top[0]}")
        for entry in self.seeds:
            if not isinstance(entry, str):
                raise ValueError(f"seeds: custom seed {entry.name!r} is not supported with methods (built-in seeds only)")
        for name, entry in self.methods.items():
            if not isinstance(entry, dict):
                raise ValueError(f"methods.{name}: expected a mapping of parameter ranges ({{}} for the defaults)")
            extra = [key for key in entry if key not in METHOD_KEYS]
            if extra:
                raise ValueError(f"methods.{name}.{extra[0]}: unknown key (known: {', '.join(METHOD_KEYS)})")
            try:
                self.method_space(name)
            except ValidationError as exc:
                problems = "; ".join(
                    ".".join(map(str, e["loc"])) + ": " + str(e["msg"]).removeprefix("Value error, ")
                    if e["loc"]
                    else str(e["msg"]).removeprefix("Value error, ")
                    for e in exc.errors()
                )
                raise ValueError(f"methods.{name}: {problems}") from None

    def method_space(self, name: str) -> SearchSpace:
        """The single-method space of one entry of `methods` (names unprefixed)."""
        assert self.methods is not None
        raw = self.model_dump(exclude={"methods", "method", "seeds", *METHOD_KEYS}, exclude_unset=False)
        raw.update(self.methods[name])
        raw["method"] = name
        raw["seeds"] = []
        return SearchSpace.model_validate(raw)

    # ---- derived views -------------------------------------------------------------------------------------

    @property
    def languages(self) -> tuple[str, ...]:
        """The scored languages (data.languages, else the experts' in their order)."""
        return self.data.languages or tuple(expert.language for expert in self.experts)

    @property
    def rank_param(self) -> Literal["rank", "rank_ratio"] | None:
        """Which rank form the space searches (None when the method takes no rank)."""
        if self.rank is not None:
            return "rank"
        if self.rank_ratio is not None:
            return "rank_ratio"
        return None

    @property
    def method_names(self) -> tuple[str, ...]:
        """The methods the space searches: one (`method`) or the keys of `methods`."""
        return tuple(self.methods) if self.methods is not None else (self.method,)

    def search_part(self, per_language: int) -> int:
        """Dev clips per language the search scores on, of `per_language`: all of them, or all but the
        selection part. ValueError when the selection part leaves nothing to search on."""
        if self.selection is None:
            return per_language
        left = per_language - self.selection.clips_per_language
        if left < 1:
            raise ValueError(
                f"selection.clips_per_language {self.selection.clips_per_language} leaves no dev clip to search on "
                f"({per_language} per language)"
            )
        return left

    def objective_names(self) -> list[str]:
        return list(self.objective.names())

    def objective_modes(self) -> list[Literal["max", "min"]]:
        return [OBJECTIVE_MODES[name] for name in self.objective.names()]


RESOLVED_HEADER = "# Resolved lors_search search space: every default explicit, every path absolute.\n"


def resolved_yaml(space: SearchSpace) -> str:
    """The space as YAML with every default explicit and every path absolute; loading it (from anywhere)
    gives an equal SearchSpace."""
    return RESOLVED_HEADER + yaml.safe_dump(space.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)


def _check_declared(param: Any, value: ParamRange, where: str) -> None:
    """A range of a method-declared parameter: integers for int parameters, inside the declared bounds."""
    low, high = value.bounds
    if param.type is int:
        for bound in (value.low, value.high, value.value, value.step):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise ValueError(f"{where}: bounds must be integers, got {bound}")
    if (param.low is not None and low < param.low) or (param.high is not None and high > param.high):
        raise ValueError(f"{where}: must lie in [{param.low}, {param.high}], got {value.describe()}")


def _check_rank(value: ParamRange) -> None:
    for bound in (value.low, value.high, value.value, value.step):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise ValueError(f"rank bounds must be integers, got {bound} (use rank_ratio for fractions)")
    low, _ = value.bounds
    if low < 0:
        raise ValueError(f"rank cannot be negative, got {low}")


def _check_unit(value: ParamRange, name: str, *, allow_zero: bool) -> None:
    low, high = value.bounds
    ok_low = low >= 0 if allow_zero else low > 0
    if not ok_low or high > 1:
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value.describe()}")


def _check_scale(value: ParamRange) -> None:
    low, _ = value.bounds
    if low <= 0:
        raise ValueError(f"scale must be > 0, got {value.describe()}")
