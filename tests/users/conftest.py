"""Two members (alice, bob) and the local admin share one studio (both modes: PostgreSQL + Redis and
SQLite + the folder broker). Alice owns one object of every kind; bob and the admin act on them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.clients import browser_client, studio_client, token_for
from tests.spine.conftest import client, embedded, studio, tiny_model_dir, write_dataset  # noqa: F401
from tests.spine.studio import Studio

PASSWORD = "correct horse battery"
BENCH_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 512,
    "torch_dtype": "float32",
}


@dataclass
class World:
    app: object
    alice: TestClient
    bob: TestClient
    admin: TestClient
    alice_id: int
    bob_id: int
    dataset_id: int
    job_id: int
    export_id: int
    evaluation_id: int
    token_id: int
    model_id: str
    data_dir: Path
    deployment_id: int
    conversation_id: int
    template_id: int
    secret_id: int
    worker_id: str


def _db_rows(table: str, columns: str = "*") -> list[tuple]:
    from app.db import get_engine

    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"select {columns} from {table} order by id"))]


def snapshot(data_dir: Path) -> dict[str, object]:
    """Every row of every owned table (tokens without their last-use time, which bob's own requests
    touch) and every file under the data dir except the database and the broker's messages."""
    from app.models import Base

    state: dict[str, object] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in ("audit_log", "workers"):
            continue
        columns = ", ".join(c.name for c in table.columns if c.name != "last_used_at")
        state[table.name] = _db_rows(table.name, columns)
    files = []
    for path in sorted(data_dir.rglob("*")):
        relative = path.relative_to(data_dir)
        if relative.parts[0] in ("broker",) or path.name.startswith("ftstudio.db"):
            continue
        files.append((str(relative), path.stat().st_size if path.is_file() else -1))
    state["files"] = files
    return state


def _make_jobs(alice_id: int, dataset_version_id: int, model_id: str, data_dir: Path) -> tuple[int, int, int]:
    """A finished train job (a checkpoint and a final folder on disk), its export and an evaluation."""
    from app.db import session_scope
    from app.models import Checkpoint, Job, JobKind, JobStatus, utcnow

    run_dir = data_dir / "runs" / "alice-train"
    (run_dir / "checkpoint-2").mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoint-2" / "adapter_config.json").write_text("{}")
    (run_dir / "final").mkdir(exist_ok=True)
    (run_dir / "final" / "adapter_config.json").write_text("{}")
    export_dir = data_dir / "models" / "exports" / "alice-export"
    export_dir.mkdir(parents=True, exist_ok=True)
    (export_dir / "model.safetensors").write_bytes(b"\0" * 64)
    with session_scope() as session:
        train = Job(
            owner_id=alice_id,
            kind=JobKind.TRAIN,
            status=JobStatus.SUCCEEDED,
            method="lora",
            name="alice-train",
            base_model_id=model_id,
            dataset_version_id=dataset_version_id,
            run_dir=str(run_dir),
            config={
                "method": "lora",
                "base_model": {"id": model_id, "path": str(data_dir), "gguf_file": None},
                "hyperparameters": {"max_steps": 2},
            },
            finished_at=utcnow(),
        )
        session.add(train)
        session.flush()
        session.add(Checkpoint(job_id=train.id, step=2, path="checkpoint-2", created_at=utcnow()))
        export = Job(
            owner_id=alice_id,
            kind=JobKind.EXPORT,
            status=JobStatus.SUCCEEDED,
            name="alice-export",
            parent_job_id=train.id,
            config={"output_dir": str(export_dir)},
            finished_at=utcnow(),
        )
        evaluation = Job(
            owner_id=alice_id,
            kind=JobKind.EVAL,
            status=JobStatus.SUCCEEDED,
            name="alice-eval",
            parent_job_id=train.id,
            config={"model": {}, "suite": {}},
            finished_at=utcnow(),
        )
        session.add_all([export, evaluation])
        session.flush()
        return train.id, export.id, evaluation.id


def _make_serving_and_synthesis(alice: TestClient, alice_id: int, model_id: str) -> tuple[int, int, int, int]:
    """Alice's deployment (through the API: a loading row no worker serves in these tests), a conversation
    with it, a saved synthesis template (API) and a saved endpoint key (the synthesis service makes those
    only while starting a run, so the row is written as it does, encrypted)."""
    from app.db import session_scope
    from app.models import Conversation, Secret
    from app.synthesis.secrets import encrypt

    deployment = alice.post("/api/v1/deployments", json={"model_id": model_id, "name": "alice-dep"})
    assert deployment.status_code == 201, deployment.text
    template = alice.post(
        "/api/v1/synthesis/templates", json={"name": "alice-template", "prompt": "Write about {topic}."}
    )
    assert template.status_code == 201, template.text
    with session_scope() as session:
        conversation = Conversation(
            owner_id=alice_id,
            title="alice-chat",
            deployment_id=deployment.json()["id"],
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        )
        key = "sk-alice-0123456789abcdef"
        secret = Secret(
            owner_id=alice_id, name="https://llm.example/v1", ciphertext=encrypt(key), hint=key[-4:]
        )
        session.add_all([conversation, secret])
        session.flush()
        return deployment.json()["id"], conversation.id, template.json()["id"], secret.id


def _make_worker(worker_id: str) -> None:
    """A worker row the admin routes could drain (none runs in these tests)."""
    from app.db import session_scope
    from app.models import WorkerNode, utcnow

    with session_scope() as session:
        session.merge(
            WorkerNode(
                id=worker_id,
                hostname="idor-host",
                pid=1,
                queues=["gpu"],
                accelerators={},
                status="online",
                started_at=utcnow(),
                last_seen_at=utcnow(),
                devices=[],
                draining=False,
            )
        )


@pytest.fixture(scope="module")
def world(studio: Studio, client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> World:  # noqa: F811
    from app.db import session_scope
    from app.users.service import UserService

    app = client.app
    with session_scope() as session:
        service = UserService(session)
        for name in ("alice", "bob"):
            service.create(name, password=PASSWORD)
    alice = studio_client(app, user="alice")
    bob = studio_client(app, user="bob")
    folder = tmp_path_factory.mktemp("bench") / "bench-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(BENCH_CONFIG))
    model = client.post("/api/v1/models", json={"path": str(folder), "id": "bench-llama"})
    assert model.status_code == 201, model.text
    path = write_dataset(tmp_path_factory.mktemp("alice") / "alice.jsonl")
    with path.open("rb") as handle:
        uploaded = alice.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"name": "alice-data"}
        )
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()
    token = alice.post("/api/v1/account/tokens", json={"name": "alice-script"})
    assert token.status_code == 201, token.text
    with session_scope() as session:
        service = UserService(session)
        alice_id, bob_id = service.require("alice").id, service.require("bob").id
        from app.models import DatasetVersion

        version_id = session.scalar(
            sa.select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset["id"])
        )
    job_id, export_id, evaluation_id = _make_jobs(alice_id, version_id, "bench-llama", studio.data_dir)
    deployment_id, conversation_id, template_id, secret_id = _make_serving_and_synthesis(
        alice, alice_id, "bench-llama"
    )
    _make_worker("idor-host:1")
    return World(
        app=app,
        alice=alice,
        bob=bob,
        admin=client,
        alice_id=alice_id,
        bob_id=bob_id,
        dataset_id=dataset["id"],
        job_id=job_id,
        export_id=export_id,
        evaluation_id=evaluation_id,
        token_id=token.json()["id"],
        model_id="bench-llama",
        data_dir=studio.data_dir,
        deployment_id=deployment_id,
        conversation_id=conversation_id,
        template_id=template_id,
        secret_id=secret_id,
        worker_id="idor-host:1",
    )


@pytest.fixture(scope="module")
def alice_browser(world: World) -> TestClient:
    return browser_client(world.app, user="alice", password=PASSWORD)


__all__ = ["PASSWORD", "World", "snapshot", "token_for"]
