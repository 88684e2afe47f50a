"""Metadata-only images made up in bulk, for listings at scale (`serve --generate-images N`).

Large Glance instances hold mostly users' snapshots, so each generated image looks like one
that Nova made: active, private, qcow2, with a size, an md5 and a sha512, and the twenty-odd
properties Nova writes on a snapshot (`image_type`, `instance_uuid`, `base_image_ref`, the
owner's names...) or carries over from the image the server was booted from (`os_distro`,
`hw_*`...). The per-image values (ids, hashes, sizes, names) differ from image to image, as
they do in a real listing, so a client cannot hold them any cheaper than it would real ones.
Their data is not held: the hashes describe no bytes, and a download answers 204 as for an
image without data. They serve listings, `compare` and `livecopy --metaonly`, not data copies.

The same count always gives the same images (and a smaller count the first of them), so two
servers started alike hold identical listings: a `compare` or `livecopy --metaonly` between them
has nothing to do, which is what a benchmark of listing at scale measures.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from typing import Any

from replicator.server import schema

#: Every generated image was created at this moment: the order is then decided by id.
CREATED_AT = "2024-01-01T00:00:00Z"
_SEED = 20240101
GiB = 2**30

#: The images users boot from, whose properties a snapshot inherits: (distro, version, flavour
#: disk in GiB). A handful, as in a real cloud, where most servers start from a few images.
_BASE_IMAGES = (
    ("ubuntu", "22.04", 20),
    ("ubuntu", "24.04", 20),
    ("debian", "12", 10),
    ("rocky", "9", 40),
    ("centos", "9-stream", 40),
    ("windows", "2022", 80),
)


def generated_records(count: int, owner: str) -> Iterator[dict[str, Any]]:
    """`count` active, private snapshots with no data, named `<server>-snapshot-<n>`."""
    dice = random.Random(_SEED)
    bases = [_base_image(dice, *base) for base in _BASE_IMAGES]
    for number in range(count):
        image_id = str(uuid.UUID(int=dice.getrandbits(128), version=4))
        base = bases[dice.randrange(len(bases))]
        user = dice.randrange(500)
        size = dice.randrange(GiB // 4, base["min_disk"] * GiB // 4)  # qcow2: the blocks in use
        yield {
            **schema.BASE_DEFAULTS,
            **base,
            "id": image_id,
            "name": f"server-{dice.randrange(100_000):05d}-snapshot-{number}",
            "owner": owner,
            "size": size,
            "virtual_size": base["min_disk"] * GiB,
            "checksum": hashlib.md5(image_id.encode()).hexdigest(),
            "os_hash_value": hashlib.sha512(image_id.encode()).hexdigest(),
            "instance_uuid": str(uuid.UUID(int=dice.getrandbits(128), version=4)),
            "owner_user_name": f"user-{user}",
            "user_id": hashlib.md5(f"user-{user}".encode()).hexdigest(),
            "owner_project_name": f"project-{user // 5}",
            "tags": [],  # one list per image: a client may change one image's tags
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
        }


def _base_image(dice: random.Random, distro: str, version: str, disk: int) -> dict[str, Any]:
    """The attributes every snapshot of servers booted from this image shares."""
    windows = distro == "windows"
    return {
        "status": "active",
        "visibility": "private",
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk": disk,
        "min_ram": 2048 if windows else 0,
        "os_hash_algo": "sha512",
        "stores": "fs",
        # What Nova writes on every snapshot.
        "image_type": "snapshot",
        "image_location": "snapshot",
        "image_state": "available",
        "base_image_ref": str(uuid.UUID(int=dice.getrandbits(128), version=4)),
        "boot_roles": "member,reader,load-balancer_member",
        # What the snapshot carries over from the image the server booted from.
        "description": f"{distro.capitalize()} {version} cloud image, built by the image pipeline",
        "os_distro": distro,
        "os_version": version,
        "os_type": "windows" if windows else "linux",
        "architecture": "x86_64",
        "hypervisor_type": "qemu",
        "hw_disk_bus": "virtio",
        "hw_vif_model": "virtio",
        "hw_scsi_model": "virtio-scsi",
        "hw_machine_type": "q35",
        "hw_qemu_guest_agent": "yes",
        "hw_rng_model": "virtio",
        "os_require_quiesce": "yes",
        "img_config_drive": "optional",
        "owner_specified.openstack.object": f"images/{distro}-{version}",
        "owner_specified.openstack.md5": hashlib.md5(f"{distro}-{version}".encode()).hexdigest(),
        "owner_specified.openstack.sha256": hashlib.sha256(f"{distro}-{version}".encode()).hexdigest(),
    }
