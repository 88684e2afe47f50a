"""A Glance reached through the v2 API, the one every Glance serves since 2018.

What is particular to v2: the listing's `next` links and its two passes (hidden images appear
only in a listing that asks for them), records and their JSON-patch updates, member statuses,
deactivation, and the two ways to send data (`PUT .../file`, or stage and import).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from replicator.model.changes import MISSING, AttributeChange, MemberChange
from replicator.model.errors import ErrorKind, ImageError, RunError
from replicator.model.records import DELETED_STATUSES, ImageRecord, RecordError, members_from, record_from_v2
from replicator.model.retry import with_retries
from replicator.model.settings import Settings
from replicator.model.vocabulary import ImageStatus, UploadMethod
from replicator.stores.glance.core import PAGE_LIMIT, GlanceCore, merge_by_id
from replicator.stores.glance.transport import ApiPath, Transport, api_path

JSON_PATCH = "application/openstack-images-v2.1-json-patch"


def import_wait_seconds(size: int | None) -> float:
    """How long an import may take once Glance has the staged data: a minute, plus time to copy
    the data into its store at a slow 10 MiB/s."""
    return 60.0 + (size or 0) / (10 * 2**20)


def listing_path(hidden: bool) -> ApiPath:
    """Every image the credentials can see (all visibilities, shares in any state), by id."""
    query = {"limit": str(PAGE_LIMIT), "sort_key": "id", "sort_dir": "asc", "visibility": "all", "member_status": "all"}
    if hidden:
        query["os_hidden"] = "true"
    return api_path("v2", "images", query=query)


def image_path(image: ImageRecord, *rest: str) -> ApiPath:
    return api_path("v2", "images", image.id, *rest)


#: Told each status Glance reports for an image while it fetches the data itself.
StatusCallback = Callable[[str], None]


def _unwatched(status: str) -> None:
    """A pull nobody watches."""


@dataclass(frozen=True)
class PullSource:
    """Where a target Glance can fetch images itself (the `glance-download` import): the source's
    region in the service catalog of the Keystone both sides share, and which of its endpoints."""

    region: str
    interface: str = "public"


class GlanceV2Store:
    """Images of one Glance, through `/v2/images`."""

    def __init__(self, transport: Transport, settings: Settings, pull_from: PullSource | None = None) -> None:
        self._core = GlanceCore(transport, settings, f"Glance at {transport.base_url}", "v2")
        self._transport = transport
        self._settings = settings
        self.description = self._core.description
        self._upload_method = settings.upload_method
        #: Where this Glance may fetch images itself (`Puller`): decided before it is made, by
        #: `openstack/connect`, only where it can (None: every image is streamed).
        self.pull_from = pull_from

    def walk(self) -> AsyncGenerator[ImageRecord, None]:
        return merge_by_id(*(self._walk_listing(hidden) for hidden in (False, True)))

    def _walk_listing(self, hidden: bool) -> AsyncGenerator[ImageRecord, None]:
        first = listing_path(hidden)

        def follow(body: Mapping[str, Any], entries: list[Any]) -> ApiPath | None:
            link = body.get("next")
            if link is None:
                return None
            if not isinstance(link, str):
                raise self._core.refuse("the image listing has a 'next' link that is not a string")
            return self._transport.listing_link(link, first)

        return self._core.pages(first, follow, self._decode)

    def _decode(self, raw: Any) -> ImageRecord:
        if not isinstance(raw, dict):
            raise self._core.refuse("the image listing holds an entry that is not an object")
        try:
            return record_from_v2(raw, no_members=raw.get("visibility") != "shared")
        except RecordError as exc:
            raise self._core.refuse(f"bad image record in the listing: {exc}") from exc

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        """Only `shared` images can have members, so only they cost a request. A listing's record
        says so already (`_decode`); a record from elsewhere is copied to say it."""
        if image.attributes.get("visibility") == "shared":
            return None
        return image if image.members == () else replace(image, members=())

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        members = await self._core.members(image_path(image, "members"), image, _member_pairs)
        return replace(image, members=members)

    def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        return self._core.read(image_path(image, "file"), image, offset, f"download image {image.id}")

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        async def create() -> None:
            await self._transport.send(
                "POST",
                api_path("v2", "images"),
                json={"id": image.id, **attributes},
                expected=(201,),
                what=f"create image {image.id}",
            )

        await self._core.create_or_adopt(image, attributes, create, lambda: self.stat(image))

    async def stat(self, image: ImageRecord) -> ImageRecord | None:
        """The target's record of `image` as it stands now; None when there is none."""
        what = f"look up image {image.id}"
        try:
            body = await self._transport.json("GET", image_path(image), what=what)
        except ImageError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        try:
            if isinstance(body, dict) and body.get("id") == image.id:
                return record_from_v2(body)
        except RecordError:
            pass  # described below, as every answer that is not this image's record
        raise ImageError(
            f"{what}: the answer is not this image's record", kind=ErrorKind.PROTOCOL, side=self._transport.side
        )

    async def gone(self, image: ImageRecord) -> bool:
        try:
            body = await self._transport.json("GET", image_path(image), what=f"look up image {image.id}")
        except ImageError as exc:
            return exc.kind is ErrorKind.NOT_FOUND and exc.from_api
        return isinstance(body, dict) and body.get("id") == image.id and body.get("status") in DELETED_STATUSES

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        method = self._upload_method  # as it was when this image began: another may switch it meanwhile
        if method == UploadMethod.GLANCE_DIRECT:
            await self._stream(image, chunks, "stage", f"stage image {image.id}")
            await self.import_staged(image)  # what Glance stored is read back after
            return
        try:
            await self._stream(image, chunks, "file", f"upload image {image.id}")
        except ImageError as exc:
            if method == UploadMethod.AUTO and exc.kind is ErrorKind.FORBIDDEN:
                # This Glance refuses direct upload: use the interoperable import from now on, and
                # have this image sent again (the source stream is spent). Images that began
                # before the switch and meet the same refusal after it are sent again the same way.
                self._upload_method = UploadMethod.GLANCE_DIRECT
                raise exc.again(f"{exc}; switching to the glance-direct import", retryable=True, retry_after=0) from exc
            raise

    async def import_staged(self, image: ImageRecord) -> None:
        """Import the data staged (glance-direct: just now, or by an earlier run that stopped
        before its import), retrying the import request by itself.

        Staging again would be refused (Glance answers 409 "uploading to uploading" while the
        data waits in staging), so a lost answer to `POST .../import` is retried here, not by
        sending the data again: the retry first looks at the image, and waits for an import
        Glance had begun (`importing`) instead of asking for a second one.
        """
        attempts = 0
        reverted = False

        async def ask() -> None:
            nonlocal attempts, reverted
            attempts += 1
            started = False
            if attempts > 1:
                status = (await self._record(image, f"look up image {image.id}")).get("status")
                if status == ImageStatus.ACTIVE:
                    return
                if status == ImageStatus.QUEUED:  # Glance reverted that import: nothing is staged
                    reverted = True
                    return
                started = status == ImageStatus.IMPORTING
            await self._import(image, {"name": UploadMethod.GLANCE_DIRECT.value}, already_started=started)

        await with_retries(ask, self._settings.retries)
        if reverted:  # staging again is right now: the whole write is retried, data sent again
            raise ImageError(
                f"image {image.id}: Glance reverted the import whose answer was lost (queued again): "
                "its data is staged again",
                kind=ErrorKind.SERVER,
                side=self._transport.side,
                retryable=True,
                retry_after=0,
            )

    async def _stream(self, image: ImageRecord, chunks: AsyncIterator[bytes], endpoint: str, what: str) -> None:
        """Send the image's bytes as one request body."""
        headers = {"Content-Type": "application/octet-stream"}
        if image.size is not None:
            # Glance 31+ fails an upload whose body is not this long: a short stream can
            # never become an active image.
            headers["Content-Length"] = str(image.size)
            headers["x-openstack-image-size"] = str(image.size)
        if self._settings.store and endpoint == "file":
            headers["X-Image-Meta-Store"] = self._settings.store
        await self._transport.send_body(
            "PUT", image_path(image, endpoint), chunks, headers=headers, expected=(204, 201, 200), what=what
        )

    def can_pull(self, image: ImageRecord) -> bool:
        """Whether this Glance is to fetch `image` itself from the source's region (glance-download)
        instead of having its bytes streamed through us: only when it was made with a source to
        fetch from (whatever the upload method has switched to since)."""
        return self.pull_from is not None

    async def pull(self, image: ImageRecord, on_status: StatusCallback = _unwatched) -> None:
        """Have this Glance fetch the data from the source region itself, and wait until the image
        is active, telling `on_status` each status Glance reports for it on the way. An ImageError
        when it cannot (a refusal, a failed import task): the image is then `queued` again (Glance
        reverts a failed import), and can be streamed instead.

        Run again after an error that left the import going (an answer lost), it waits for that
        import rather than asking for a second one, which Glance would refuse."""
        assert self.pull_from is not None
        method = {
            "name": UploadMethod.GLANCE_DOWNLOAD.value,
            "glance_image_id": image.id,
            "glance_region": self.pull_from.region,
            "glance_service_interface": self.pull_from.interface,
        }
        record = await self._record(image, f"look up image {image.id}")
        status, lock = record.get("status"), record.get("os_glance_import_task")
        if status == ImageStatus.ACTIVE:
            return
        try:
            await self._import(image, method, on_status, already_started=status == ImageStatus.IMPORTING)
        except ImageError as exc:
            if exc.kind is ErrorKind.CONFLICT and lock:
                # Glance (33 at least) restores the lock of a failed glance-download as it reverts.
                raise exc.again(
                    f"{exc}: Glance keeps an earlier import's lock on it (task {lock}) for an hour after "
                    "that import failed"
                ) from exc
            raise

    async def store_ids(self) -> frozenset[str] | None:
        """The store ids `/v2/info/stores` lists (a Glance without multiple stores answers 404)."""
        try:
            body = await self._core.get_json(api_path("v2", "info", "stores"), "list the stores")
        except RunError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
            return None
        listed = body.get("stores") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            return None
        return frozenset(
            entry["id"] for entry in listed if isinstance(entry, dict) and isinstance(entry.get("id"), str)
        )

    async def _import(
        self,
        image: ImageRecord,
        method: dict[str, Any],
        on_status: StatusCallback = _unwatched,
        already_started: bool = False,
    ) -> None:
        """Ask Glance to import the image by `method`, and wait until it is active.

        Glance runs the import as a task after it has answered. It reports a failure in
        `os_glance_failed_import` (multi-store) or only in the task, putting the image back to
        `queued` (single store); the task's message is its reason. The task is what decides:
        until it has begun, a mark left by an earlier failed import says nothing of this one; a
        mark that stays while the task says nothing is a failure too (SQLite can lose the
        task's own end), so nothing waits for an import that has ended.
        """
        what = f"import image {image.id}"
        if not already_started:
            body: dict[str, Any] = {"method": method}
            if self._settings.store:
                body["stores"] = [self._settings.store]
            await self._transport.send("POST", image_path(image, "import"), json=body, expected=(202,), what=what)
        deadline = asyncio.get_running_loop().time() + import_wait_seconds(image.size)
        delay = 0.2
        reported: object = None
        marked = 0  # polls in a row that found a failure mark the task did not explain
        while True:
            record = await self._record(image, f"check import of image {image.id}")
            status = record.get("status")
            if status != reported:
                reported = status
                on_status(str(status))
            if status == ImageStatus.ACTIVE:
                return
            if status not in (ImageStatus.QUEUED, ImageStatus.UPLOADING, ImageStatus.IMPORTING):
                raise ImageError(f"{what}: Glance ended it as {status}", side=self._transport.side)
            failed = record.get("os_glance_failed_import")
            mark = bool(failed) and not record.get("os_glance_importing_to_stores")
            # Asked at every poll, `importing` too: a task Glance has marked failed ends the wait
            # at once, with its reason, whatever the image's status still says.
            task = await self._import_task(image)
            if task is not None and task[0] == "failure":
                where = f" into store {failed}" if failed else ""
                raise ImageError(f"{what}: Glance's import{where} failed: {task[1]}", side=self._transport.side)
            marked = marked + 1 if mark and (task is None or task[0] != "pending") else 0
            if marked >= 2:
                raise ImageError(
                    f"{what}: Glance failed to import it into store {failed} (status {status})",
                    side=self._transport.side,
                )
            if asyncio.get_running_loop().time() > deadline:
                raise ImageError(
                    f"{what}: still {status} after {import_wait_seconds(image.size):.0f}s", side=self._transport.side
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _record(self, image: ImageRecord, what: str) -> dict[str, Any]:
        """The image's record as Glance's JSON object (with the `os_glance_*` marks an import leaves)."""
        record = await self._transport.json("GET", image_path(image), what=what)
        if not isinstance(record, dict):
            raise ImageError(
                f"{what}: the answer is not an image record", kind=ErrorKind.PROTOCOL, side=self._transport.side
            )
        return record

    async def import_task_state(self, image: ImageRecord) -> str | None:
        task = await self._import_task(image)
        if task is None:
            return None
        status, message = task
        return f"Glance's newest import task for it is {status}: {message}"

    async def _import_task(self, image: ImageRecord) -> tuple[str, str] | None:
        """The newest import task of `image` (the one this run asked for: Glance adds it before it
        answers): its status and message. None from a Glance older than Wallaby (no task list)."""
        try:
            body = await self._transport.json("GET", image_path(image, "tasks"), what=f"list tasks of image {image.id}")
        except ImageError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None  # only the deadline or a failure mark ends the wait
            raise
        listed = body.get("tasks") if isinstance(body, dict) else None
        tasks = [task for task in listed if isinstance(task, dict)] if isinstance(listed, list) else []
        if not tasks:
            return None
        newest = max(tasks, key=lambda task: str(task.get("created_at") or ""))
        return str(newest.get("status")), str(newest.get("message") or "no reason given")[:300]

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        ops = [_patch_op(change) for change in changes]
        await self._transport.send(
            "PATCH",
            image_path(image),
            json=ops,
            headers={"Content-Type": JSON_PATCH},
            expected=(200,),
            what=f"update image {image.id}",
        )

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        """Bring the image's members in line, every one of them: a status the target refuses
        (403: Glance lets only the member project, or an admin, accept or reject a share) does
        not stop the others; the refused ones are raised together at the end, one per member."""
        refused: list[tuple[MemberChange, ImageError]] = []
        for change in changes:
            what = f"share image {image.id} with {change.member}"
            if change.new is MISSING:
                await self._transport.send(
                    "DELETE", image_path(image, "members", change.member), expected=(204,), what=what
                )
                continue
            if change.old is MISSING:
                await self._transport.send(
                    "POST", image_path(image, "members"), json={"member": change.member}, expected=(200,), what=what
                )
                if change.new == "pending":
                    continue
            try:
                await self._transport.send(
                    "PUT",
                    image_path(image, "members", change.member),
                    json={"status": change.new},
                    expected=(200,),
                    what=what,
                )
            except ImageError as exc:
                if exc.kind is not ErrorKind.FORBIDDEN:
                    raise
                refused.append((change, exc))
        if refused:
            raise refused_statuses(refused)

    async def delete_image(self, image: ImageRecord) -> None:
        await self._transport.send("DELETE", image_path(image), expected=(204,), what=f"delete image {image.id}")

    async def set_status(self, image: ImageRecord, status: str) -> None:
        verb = "deactivate" if status == ImageStatus.DEACTIVATED else "reactivate"
        await self._transport.send(
            "POST", image_path(image, "actions", verb), expected=(204,), what=f"{verb} image {image.id}"
        )

    def as_held(self, image: ImageRecord) -> ImageRecord:
        return image  # the neutral record is the v2 form

    async def close(self) -> None:
        await self._core.close()


async def import_methods(transport: Transport, settings: Settings) -> frozenset[str]:
    """The import methods a Glance v2 offers (`/v2/info/import`), asked before its store is made
    (to decide whether it may fetch images itself); a Glance older than Queens has no such list,
    and imports nothing."""
    core = GlanceCore(transport, settings, f"Glance at {transport.base_url}", "v2")
    try:
        body = await core.get_json(api_path("v2", "info", "import"), "list the import methods")
    except RunError as exc:
        if exc.kind is not ErrorKind.NOT_FOUND:
            raise
        body = None
    methods = body.get("import-methods") if isinstance(body, dict) else None
    value = methods.get("value") if isinstance(methods, dict) else None
    return frozenset(str(name) for name in value) if isinstance(value, list) else frozenset()


def refused_statuses(refused: Sequence[tuple[MemberChange, ImageError]]) -> ImageError:
    """One error for the member statuses the target refused, naming each member, with what the
    operator can do; its fields are the first refusal's (forbidden, not retryable)."""
    each = "; ".join(f"member {change.member}: status {change.new} refused" for change, _ in refused)
    first = refused[0][1]
    return first.again(
        f"{each} (the target lets only the member project, or an admin, set a member's status: "
        f"the members are added, pending; use admin credentials on the target, or -D members): {first}",
        retryable=False,
    )


def _member_pairs(body: Any) -> tuple[tuple[str, str], ...] | None:
    entries = body.get("members") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return None
    try:
        return members_from(entries)
    except RecordError:
        return None


def _patch_op(change: AttributeChange) -> dict[str, Any]:
    path = "/" + change.key.replace("~", "~0").replace("/", "~1")
    if change.new is MISSING:
        return {"op": "remove", "path": path}
    if change.old is MISSING:
        return {"op": "add", "path": path, "value": change.new}
    return {"op": "replace", "path": path, "value": change.new}
