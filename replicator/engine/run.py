"""The five commands as one engine: walk both stores side by side, plan each pair, execute.

`size` walks one store; `compare` walks two and keeps only the differences; `livecopy`, `dump`
and `load` walk two and hand each image that needs work to the transfer as soon as it is
planned, so copying starts with the first page of the listings. Memory grows with the work
found, never with the images listed (`--order-by` needs the whole work list, and holds that).

Every listing, march and plan this module reads is closed with `contextlib.aclosing` however
the reading ends; the member look-ups `planned` starts ahead of its consumer are owned by a
`model/tasks.Ahead`, cancelled and awaited when it is closed, so a walk stopped early (an error,
Ctrl-C, `--max-images`) leaves no task behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

from replicator.engine.actions import Action, Category
from replicator.engine.events import EventSink, Listed, RunPlanned, Unmapped, WorkFound, ignore
from replicator.engine.mapping import RecordMapper
from replicator.engine.march import Pair, march
from replicator.engine.plan import decide, decide_prune, mark_of, over_prune_limit
from replicator.engine.transfer import Transfer
from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import MEMBERS, ImageRecord, id_order
from replicator.model.settings import Settings
from replicator.model.tasks import Ahead, all_of
from replicator.model.vocabulary import ImageStatus
from replicator.stores.base import ImageStore

#: Member lookups in flight while walking (small GETs, one per image that may be shared).
LOOKUPS = 32


@dataclass(frozen=True)
class Inventory:
    """What `size` reports: the active images and the bytes a dump would take, and every image
    the selection took, whatever its status."""

    images: int
    bytes: int
    listed: int = 0
    #: Ids the selection asked for (`--id`) that the store does not have.
    missing_ids: tuple[str, ...] = ()
    #: Ids asked for that the store has and the other filters left out.
    left_out_ids: tuple[str, ...] = ()


@dataclass
class Walked:
    """What a walk saw besides the actions: how many source images the selection took, and
    which of the ids the user asked for the source does not have."""

    listed: int = 0
    #: The ids asked for that the source listed, whether the other filters kept them or not.
    seen_ids: set[str] = field(default_factory=set)
    #: The ids asked for that the source has and the other filters left out.
    left_out: set[str] = field(default_factory=set)
    wanted_ids: frozenset[str] = frozenset()

    @property
    def missing_ids(self) -> list[str]:
        """Ids asked for that the source does not have at all, whatever the other filters."""
        return sorted(self.wanted_ids - self.seen_ids)

    @property
    def left_out_ids(self) -> list[str]:
        return sorted(self.left_out)


@dataclass
class Comparison:
    """What `compare` and `--dry-run` report: the images with a difference or with properties kept
    as target-added (every image, when asked for all), counts per category, the walk, (between two clouds) the source's projects
    that have no counterpart on the target, and `refused_prunes`: when more images than
    `max_prune` would be pruned, how many (a run would then prune none)."""

    actions: list[Action]
    counts: Counter[Category]
    walked: Walked
    unmapped: Unmapped = field(default_factory=Unmapped)
    refused_prunes: int = 0
    max_prune: int = 0

    @property
    def differences(self) -> list[Action]:
        return [action for action in self.actions if differs(action)]


def differs(action: Action) -> bool:
    """Whether `action` is a difference between the two sides: work to do, a problem, or an
    image on the target only that is not already as pruning leaves it."""
    return action.has_work or action.problem or (action.gone_from_source and not action.identical)


async def measure(source: ImageStore, settings: Settings) -> Inventory:
    selection = settings.selection
    active = size = listed = 0
    seen: set[str] = set()
    left_out: set[str] = set()
    async with aclosing(source.walk()) as records:
        async for record in records:
            if record.id in selection.ids:
                seen.add(record.id)
            if not selection.keeps(record):
                if record.id in selection.ids:
                    left_out.add(record.id)
                continue
            listed += 1
            if record.status == ImageStatus.ACTIVE:
                active += 1
                size += record.size or 0
    return Inventory(
        images=active,
        bytes=size,
        listed=listed,
        missing_ids=tuple(sorted(selection.ids - seen)),
        left_out_ids=tuple(sorted(left_out)),
    )


async def compare(
    source: ImageStore,
    target: ImageStore,
    settings: Settings,
    *,
    every: bool = False,
    emit: EventSink = ignore,
    projects: RecordMapper | None = None,
) -> Comparison:
    """The plan a copy would follow, for reporting: what is missing, what differs, and (when
    pruning) what is on the target only, with the prunes a run would refuse marked as such."""
    settings = mark_of(settings, source.description)
    walked = Walked(wanted_ids=settings.selection.ids)
    kept: list[Action] = []
    counts: Counter[Category] = Counter()
    unmapped = Unmapped()
    guard = PruneGuard(settings)
    async with aclosing(planned(source, target, settings, walked, emit, projects)) as actions:
        async for action in actions:
            counts[action.category] += 1
            if not action.gone_from_source:
                unmapped.add(action.image.unmapped_projects)
            if action.prune:
                guard.hold(action)
            if every or differs(action) or action.target_added:
                kept.append(action)
    if guard.exceeded:
        kept = [over_prune_limit(action, settings) if action.prune else action for action in kept]
    refused = guard.count if guard.exceeded else 0
    # In id order (member look-ups end in any order), or the order asked for, ties in id order.
    kept.sort(key=lambda action: id_order(action.image.id))
    return Comparison(
        settings.selection.ordered(kept, _image),
        counts,
        walked,
        unmapped,
        refused_prunes=refused,
        max_prune=settings.max_prune,
    )


async def replicate(
    source: ImageStore,
    target: ImageStore,
    settings: Settings,
    emit: EventSink = ignore,
    projects: RecordMapper | None = None,
    *,
    transfer: Transfer | None = None,
) -> Walked:
    """Bring `target` in line with `source`: create, upload and update what the plan says, each
    image as soon as the walk has planned it; prune (`Settings.prune`) once the walk has ended.
    Between two clouds, `projects` gives the source's records the target's projects before they
    are planned. `transfer` executes the work (one of several targets: `engine/fanout.py`'s,
    which shares each image's read); by default a `Transfer` of this pair's own. The mark
    (`Settings.mark_property`) names this source (`plan.mark_of`)."""
    settings = mark_of(settings, source.description)
    walked = Walked(wanted_ids=settings.selection.ids)
    transfer = transfer or Transfer(source, target, settings, emit)
    guard = PruneGuard(settings)

    async def work() -> AsyncGenerator[Action, None]:
        images = with_work = size = 0
        held: list[Action] = []  # only with --order-by, which needs the whole work list
        async with aclosing(planned(source, target, settings, walked, emit, projects)) as actions:
            async for action in actions:
                images += not action.gone_from_source
                if action.prune:
                    for refused in guard.hold(action):
                        transfer.finish_without_work(refused)
                    continue
                if not (action.has_work or action.problem):
                    transfer.finish_without_work(action)
                    continue
                with_work += 1
                size += action.bytes_to_copy
                emit(WorkFound(action))
                if settings.selection.order_by is None:
                    yield action
                else:
                    held.append(action)
        prunes = guard.release()
        for action in prunes:
            emit(WorkFound(action))
        emit(RunPlanned(images, with_work + len(prunes), size, len(prunes)))
        for action in [*settings.selection.ordered(held, _image), *prunes]:
            yield action

    async with aclosing(work()) as actions:
        await transfer.run(actions)
    if guard.exceeded:
        raise guard.refusal()  # after the copies, which the guard does not hold back
    return walked


class PruneGuard:
    """The guards on a whole run's pruning (those on one image are in `plan.decide_prune`).

    Prunes are held until the walk has ended, so a listing that fails or is cut short ends the
    run before any is carried out. More than `max_prune` of them is the usual sign of a wrong
    filter or an empty source listing: then none is carried out, and each is reported as
    refused as soon as the count is passed, so no more than `max_prune` are ever held.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._held: list[Action] = []
        #: Prunes the run has planned so far.
        self.count = 0

    @property
    def exceeded(self) -> bool:
        return self.count > self._settings.max_prune

    def hold(self, action: Action) -> list[Action]:
        """Count and hold the prune `action`; the prunes refused, once the count is past the limit."""
        self.count += 1
        if not self.exceeded:
            self._held.append(action)
            return []
        refused, self._held = [*self._held, action], []
        return [over_prune_limit(prune, self._settings) for prune in refused]

    def release(self) -> list[Action]:
        """The prunes to carry out, once the walk has ended without an error."""
        return [] if self.exceeded else self._held

    def refusal(self) -> RunError:
        return RunError(
            f"{self.count} target images would be pruned (gone from the source), more than the "
            f"{self._settings.max_prune} a run may prune: none was pruned (a wrong filter or an empty "
            "source listing is the usual cause; raise the limit if they really are to go)",
            kind=ErrorKind.INPUT,
        )


async def planned(
    source: ImageStore,
    target: ImageStore,
    settings: Settings,
    walked: Walked,
    emit: EventSink = ignore,
    projects: RecordMapper | None = None,
) -> AsyncGenerator[Action, None]:
    """One action per selected source image, as the walk of both listings passes it.

    Members are looked up (where a store must ask) for the planned pairs only, up to `LOOKUPS`
    at a time; the actions come out in the order their lookups end. Between two clouds the
    source record's owner and members then become the target's projects (`projects`: the
    mapping's Keystone lookups happen here, in the same bounded tasks), the one place where a
    record is mapped before the plan sees it.
    """
    selection = settings.selection
    with_members = MEMBERS not in settings.dont_replicate

    def listed(side: str, images: int, done: bool) -> None:
        emit(Listed(side, images, done))

    async def plan_pair(pair: Pair) -> Action:
        image, current = await all_of(_members(source, pair.source), _members(target, pair.target))
        assert image is not None
        if projects is not None:
            image = await projects.mapped(image)
        return decide(target.as_held(image), current, settings)

    def known(image: ImageRecord, current: ImageRecord | None) -> Action | None:
        """The action, when nobody needs to be asked (a store for members, a Keystone for
        projects); None when someone does."""
        if with_members:
            image_known = source.known_members(image)
            current_known = target.known_members(current) if current is not None else None
            if image_known is None or (current is not None and current_known is None):
                return None
            image, current = image_known, current_known
        if projects is not None:
            mapped = projects.known(image)
            if mapped is None:
                return None
            image = mapped
        return decide(target.as_held(image), current, settings)

    lookups: Ahead[Action] = Ahead()  # owned here: closed (cancelled and awaited) however the walk ends
    try:
        async with (
            aclosing(source.walk()) as source_records,
            aclosing(target.walk()) as target_records,
            aclosing(march(source_records, target_records, listed)) as pairs,
        ):
            async for pair in pairs:
                if pair.source is None:
                    if settings.prune and pair.target is not None and selection.keeps(pair.target):
                        yield decide_prune(pair.target, settings)
                    continue
                if pair.source.id in walked.wanted_ids:
                    walked.seen_ids.add(pair.source.id)
                if not selection.keeps(pair.source):
                    if pair.source.id in walked.wanted_ids:
                        walked.left_out.add(pair.source.id)
                    continue
                walked.listed += 1
                ready = known(pair.source, pair.target)
                if ready is not None:
                    yield ready
                    continue
                if len(lookups) >= LOOKUPS:
                    for action in await lookups.finished():
                        yield action
                lookups.start(plan_pair(pair))
        while lookups:
            for action in await lookups.finished():
                yield action
    finally:
        await lookups.close()


async def _members(store: ImageStore, record: ImageRecord | None) -> ImageRecord | None:
    if record is None:
        return None
    return store.known_members(record) or await store.with_members(record)


def _image(action: Action) -> ImageRecord:
    return action.image
