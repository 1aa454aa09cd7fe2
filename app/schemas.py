"""Pydantic v2 models of the public contract (API.md): what clients send and what they get."""

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# Years 0001 to 9999 (there is no year 0), then a quarter or a month.
PERIOD_PATTERN = r"^(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])(?:-Q[1-4]|-(?:0[1-9]|1[0-2]))?$"

SEED_ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=80)]
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
# BCP 47, as long as the column that keeps it.
Language = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{1,8})*$", max_length=35)
]
Geography = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

_NUMBER = re.compile(r"\s*[+-]?\d+(?:\.\d*)?\s*")


def iso_8601(value: object) -> object:
    """Pydantic reads a number, or text that is one, as Unix time: ``20240305`` would be a
    day in August 1970. Dates and timestamps are ISO 8601 text (API.md); refuse the rest."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date or timestamp, e.g. 2024-03-05T08:21:00+08:00")
    return value


def in_utc_range(value: datetime) -> datetime:
    """An instant that UTC cannot hold (0001-01-01T00:00+05:00 is in year 0) is refused,
    not stored: converting it raised OverflowError, a 500."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the years 1 to 9999 once read in UTC") from None
    return value


Timestamp = Annotated[datetime, BeforeValidator(iso_8601), AfterValidator(in_utc_range)]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_or_instant(value: object) -> object:
    """A query's bare date is a date (a whole day); any other text is a timestamp. Pydantic
    alone reads a timestamp at midnight, `2024-03-05T00:00:00+08:00`, as the date 2024-03-05
    and drops its offset."""
    value = iso_8601(value)
    if isinstance(value, str) and _DATE.fullmatch(value):
        return date.fromisoformat(value)
    return value


# Strict: pydantic's lax mode reads ``true`` as 1 and ``"5"`` as 5; the document says number,
# and a body that sends a boolean or text there is refused (422) as invalid.
Offset = Annotated[int, Field(ge=0), Strict()]
EndOffset = Annotated[int, Field(ge=1), Strict()]
Number = Annotated[float, Field(allow_inf_nan=False), Strict()]


# Named enums: each is one component of the OpenAPI document, so a generated SDK gets one
# type for it rather than one per field that uses it.
class Kind(StrEnum):
    """What an observation is: an outcome, or a goal set in advance."""

    ACTUAL = "actual"
    TARGET = "target"
    PLAN = "plan"
    FORECAST = "forecast"


class Comparator(StrEnum):
    """How the value is stated: "about 5" is approx, "over 66 million" is gt."""

    EQ = "eq"
    APPROX = "approx"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


class Frequency(StrEnum):
    ANNUAL = "annual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


class Better(StrEnum):
    """Which way is good news for an indicator."""

    HIGHER = "higher"
    LOWER = "lower"
    NEUTRAL = "neutral"


class Status(StrEnum):
    """Whether a target was met by its outcome; pending without one."""

    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


class ResultType(StrEnum):
    ARTICLE = "article"
    SECTOR = "sector"
    INDICATOR = "indicator"


class Out(BaseModel):
    """A response model: it documents what the server sends; unknown fields are a bug."""

    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    """A request model: unknown fields are refused (422), never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL cannot store U+0000 in text (SQLite can): refused on both backends, by
        # name, rather than by the database as a 400 that no write documents.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
        return value


# --- errors -------------------------------------------------------------------------------


class ProblemError(Out):
    loc: list[str | int] = Field(description="Where the error is: a path into the request.")
    msg: str
    type: str


class Problem(Out):
    """An RFC 9457 problem; every error of this API has this shape."""

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No indicator with slug 'chn-gdp'."])
    errors: list[ProblemError] | None = Field(
        default=None, description="For invalid input: one entry per problem found."
    )


# --- shared pieces ------------------------------------------------------------------------


class Source(Out):
    name: str | None = Field(examples=["Breaking News"])
    url: str | None = Field(examples=[None])


_WEB_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def web_url(value: str) -> str:
    """An absolute http or https URL, kept as sent: a page that shows the source makes it
    a link, and a ``javascript:`` one would run in the reader's browser. Whitespace and
    control characters, which parsers skip (``java\tscript:``), are refused, not skipped."""
    if _SPACE_OR_CONTROL.search(value):
        raise ValueError("must be an http or https URL, without spaces or control characters")
    try:
        _WEB_URL.validate_python(value)
    except ValidationError:
        raise ValueError("must be an absolute http or https URL") from None
    return value


class SourceIn(In):
    name: str | None = Field(default=None, max_length=200)
    url: Annotated[str, StringConstraints(max_length=2000), AfterValidator(web_url)] | None = Field(
        default=None, description="An http or https URL."
    )


class Evidence(Out):
    article: str = Field(description="Slug of the article.", examples=[SEED_ARTICLE])
    quote: str = Field(description="The sentence that states the figure: body[start:end].")
    start: int = Field(description="Offset of the quote in the article body, in characters.")
    end: int = Field(description="Offset just past the quote in the article body.")


class EvidenceIn(In):
    article: Slug
    quote: str = Field(min_length=1, max_length=5000)
    start: Offset | None = Field(default=None, description="Optional: found from the quote.")
    end: EndOffset | None = None


# --- observations -------------------------------------------------------------------------


class Observation(Out):
    """One figure for one period, as one source stated it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "indicator": "chn-gdp-growth",
                    "period": "2024",
                    "kind": "target",
                    "value": 5.0,
                    "comparator": "approx",
                    "unit": "percent",
                    "value_text": "about a 5 percent",
                    "evidence": {
                        "article": SEED_ARTICLE,
                        "quote": "In a bid to champion high-quality development, China also "
                        "unabashedly aspires to target about a 5 percent economic growth for "
                        "the ensuing year, 2024.",
                        "start": 2342,
                        "end": 2491,
                    },
                    "created_at": "2026-11-28T12:00:00+00:00",
                    "updated_at": "2026-11-28T12:00:00+00:00",
                }
            ]
        }
    )

    id: int
    indicator: str = Field(description="Slug of the indicator.")
    period: str = Field(description="`2023`, `2024-Q1` or `2024-03`.", examples=["2024"])
    kind: Kind
    value: float | None = Field(description="In base units of `unit`; null for a milestone.")
    comparator: Comparator | None
    unit: str | None = Field(examples=["percent"])
    value_text: str = Field(description="The source's own words.")
    evidence: Evidence
    created_at: datetime
    updated_at: datetime


class ObservationPage(Out):
    items: list[Observation]
    total: int = Field(description="Exact number of items matching the filters.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ObservationCreate(In):
    period: Period
    kind: Kind
    value: Number | None = None
    comparator: Comparator | None = None
    unit: str | None = Field(default=None, max_length=40)
    value_text: str = Field(min_length=1, max_length=500)
    evidence: EvidenceIn

    @field_validator("unit")
    @classmethod
    def _unit_not_blank(cls, unit: str | None) -> str | None:
        if unit is not None and not unit.strip():
            raise ValueError("unit must not be blank; use null for a milestone")
        return unit

    @model_validator(mode="after")
    def _figure_or_milestone(self) -> "ObservationCreate":
        numbered = (self.value is not None, self.comparator is not None, self.unit is not None)
        if any(numbered) and not all(numbered):
            raise ValueError(
                "value, comparator and unit go together: all set for a figure, "
                "all null for a milestone"
            )
        return self


class ObservationImport(ObservationCreate):
    indicator: Slug


# --- indicators ---------------------------------------------------------------------------


class Latest(Out):
    actual: Observation | None = Field(description="The most recent actual, by period.")
    target: Observation | None = Field(description="The most recent target or plan, by period.")


class IndicatorFields(BaseModel):
    slug: str = Field(examples=["chn-gdp-growth"])
    name: str = Field(examples=["GDP growth"])
    description: str | None
    unit: str | None = Field(examples=["percent"])
    geography: str = Field(description="ISO 3166-1 alpha-3.", examples=["CHN"])
    frequency: Frequency
    better: Better = Field(description="Which way is good news.")
    sectors: list[str] = Field(description="Slugs of the sectors it concerns.")


class Indicator(IndicatorFields, Out):
    """A measured concept in one geography: a series over periods."""

    latest: Latest


class IndicatorPage(Out):
    items: list[Indicator]
    total: int
    next_cursor: str | None


class IndicatorCreate(In):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    unit: str | None = Field(default=None, max_length=40)
    geography: Geography
    frequency: Frequency
    better: Better
    sectors: list[Slug] = Field(default_factory=list, max_length=100)


# --- sectors ------------------------------------------------------------------------------


class IndicatorSummary(Out):
    slug: str
    name: str
    unit: str | None


class ArticleSummary(Out):
    slug: str
    title: str
    published_at: datetime


class Sector(Out):
    """A sector or industry that articles and indicators concern."""

    slug: str = Field(examples=["renewable-energy"])
    name: str = Field(examples=["Renewable energy"])
    description: str | None
    article_count: int
    indicator_count: int


class SectorDetail(Sector):
    indicators: list[IndicatorSummary]
    articles: list[ArticleSummary]


class SectorPage(Out):
    items: list[Sector]
    total: int
    next_cursor: str | None


class SectorCreate(In):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


# --- articles -----------------------------------------------------------------------------


class Article(Out):
    """A news article or report that facts are taken from."""

    slug: str = Field(examples=[SEED_ARTICLE])
    title: str
    subtitle: str | None
    author: str | None
    section: str | None
    dateline: str | None
    published_at: datetime
    language: str = Field(description="BCP 47 language tag.", examples=["en"])
    source: Source
    summary: str | None
    sectors: list[str]
    observation_count: int
    created_at: datetime
    updated_at: datetime


class ArticleDetail(Article):
    body: str = Field(description="The full text exactly as loaded; evidence offsets point here.")


class ArticlePage(Out):
    items: list[Article]
    total: int
    next_cursor: str | None


class ArticleCreate(In):
    slug: Slug
    title: str = Field(min_length=1, max_length=500)
    subtitle: str | None = Field(default=None, max_length=1000)
    author: str | None = Field(default=None, max_length=200)
    section: str | None = Field(default=None, max_length=200)
    dateline: str | None = Field(default=None, max_length=200)
    published_at: Timestamp
    language: Language = "en"
    source: SourceIn = Field(default_factory=SourceIn)
    summary: str | None = Field(default=None, max_length=5000)
    body: str = Field(min_length=1, max_length=1_000_000)
    sectors: list[Slug] = Field(default_factory=list, max_length=100)

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("published_at needs a UTC offset, e.g. 2024-03-05T08:21:00+08:00")
        return value


# --- targets and search -------------------------------------------------------------------


class Target(Out):
    """A target or plan with the actual that answers it."""

    target: Observation
    outcome: Observation | None
    status: Status


class TargetPage(Out):
    items: list[Target]
    total: int
    next_cursor: str | None


class SearchResult(Out):
    type: ResultType
    slug: str
    title: str = Field(description="The article's title, or the sector's or indicator's name.")
    snippet: str = Field(description="Plain text around the first matching word.")


class SearchPage(Out):
    items: list[SearchResult]
    total: int
    next_cursor: str | None


# --- imports ------------------------------------------------------------------------------


class Bundle(In):
    """Articles, sectors, indicators and observations, loaded in one transaction."""

    articles: list[ArticleCreate] = Field(default_factory=list)
    sectors: list[SectorCreate] = Field(default_factory=list)
    indicators: list[IndicatorCreate] = Field(default_factory=list)
    observations: list[ObservationImport] = Field(default_factory=list)


class ImportCounts(Out):
    created: int
    updated: int
    unchanged: int


class ImportResult(Out):
    articles: ImportCounts
    sectors: ImportCounts
    indicators: ImportCounts
    observations: ImportCounts


class Health(Out):
    status: Literal["ok"]


def is_slug(value: str) -> bool:
    return re.fullmatch(SLUG_PATTERN, value) is not None and len(value) <= 80


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period: ``2024``, ``2024-Q3`` or ``2024-07``."""
    year = int(period[:4])
    if len(period) == 4:
        return date(year, 1, 1), date(year, 12, 31)
    if period[5] == "Q":
        quarter = int(period[6])
        first_month = 3 * quarter - 2
        return date(year, first_month, 1), _month_end(year, first_month + 2)
    month = int(period[5:7])
    return date(year, month, 1), _month_end(year, month)


def _month_end(year: int, month: int) -> date:
    if month == 12:
        return date(year, 12, 31)
    return date.fromordinal(date(year, month + 1, 1).toordinal() - 1)


# --- updates (JSON merge patches; a slug never changes) ------------------------------------


class ArticleUpdate(In):
    """A JSON merge patch of an article: fields to change; `null` clears an optional one."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    subtitle: str | None = Field(default=None, max_length=1000)
    author: str | None = Field(default=None, max_length=200)
    section: str | None = Field(default=None, max_length=200)
    dateline: str | None = Field(default=None, max_length=200)
    published_at: Timestamp | None = None
    language: Language | None = None
    source: SourceIn | None = None
    summary: str | None = Field(default=None, max_length=5000)
    body: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    sectors: list[Slug] | None = Field(default=None, max_length=100)


class SectorUpdate(In):
    """A JSON merge patch of a sector."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class IndicatorUpdate(In):
    """A JSON merge patch of an indicator."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    unit: str | None = Field(default=None, max_length=40)
    geography: Geography | None = None
    frequency: Frequency | None = None
    better: Better | None = None
    sectors: list[Slug] | None = Field(default=None, max_length=100)


class EvidenceUpdate(In):
    article: Slug | None = None
    quote: str | None = Field(default=None, min_length=1, max_length=5000)
    start: Offset | None = None
    end: EndOffset | None = None


class ObservationUpdate(In):
    """A JSON merge patch of an observation; a new quote without offsets is found again."""

    period: Period | None = None
    kind: Kind | None = None
    value: Number | None = None
    comparator: Comparator | None = None
    unit: str | None = Field(default=None, max_length=40)
    value_text: str | None = Field(default=None, min_length=1, max_length=500)
    evidence: EvidenceUpdate | None = None
