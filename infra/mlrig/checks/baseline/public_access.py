"""No public access: every bucket blocks public ACLs and policies, no database is public."""

from __future__ import annotations

from collections.abc import Iterator

from .. import Violation, check
from ..graph import StackGraph

BUCKET = "aws:s3/bucket:Bucket"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@check(
    "MLRIG-SEC-002",
    "Public access is blocked",
    "A bucket without a full public access block, or a publicly accessible database, can be opened to the "
    "internet by one policy or ACL change.",
    applies_to=(BUCKET, BLOCK, "aws:rds/instance:Instance"),
)
def public_access_is_blocked(graph: StackGraph) -> Iterator[Violation]:
    blocks = {str(b.inputs.get("bucket")): b for b in graph.of_type(BLOCK)}
    for bucket in graph.of_type(BUCKET):
        ids = {str(v) for v in (bucket.get("bucket"), bucket.get("id"), bucket.get("arn")) if v} | {bucket.urn}
        block = next((b for name, b in blocks.items() if name in ids), None)
        if block is None:
            yield Violation(
                bucket, f"bucket {bucket.name} has no BucketPublicAccessBlock", "add one with all four flags true"
            )
            continue
        off = [flag for flag in FLAGS if block.inputs.get(flag) is not True]
        if off:
            yield Violation(
                block,
                f"the public access block of {bucket.name} leaves {', '.join(off)} off",
                "set all four flags to true",
            )
    for database in graph.of_type("aws:rds/instance:Instance"):
        if database.inputs.get("publiclyAccessible"):
            yield Violation(
                database, f"database {database.name} is publicly accessible", "set publiclyAccessible: false"
            )
