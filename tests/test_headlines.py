"""Home-page tiles: each study's newest finished run per strategy, its headline number and a thumbnail."""

from core import plots
from core.engine.store import RunStore
from core.experiments import headlines


def _fd_run(store: RunStore, strategy: str, ap: float, status_ok: bool = True) -> str:
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": strategy})
    try:
        with store.recording(run_id) as rec:
            rec.checkpoint({}, "pnet epoch 1")
            rec.note(val_AP30=ap, val_AP30_pretrained=0.80)
            if not status_ok:
                raise RuntimeError("disk full")
    except RuntimeError:
        pass
    return run_id


def test_an_empty_store_gives_an_empty_tile_per_study(tmp_path):
    tiles = headlines.tiles(RunStore(tmp_path))
    assert [t.study for t in tiles] == [s.title for s in headlines.STUDIES] and all(t.empty for t in tiles)


def test_face_detection_tile_takes_the_newest_finished_run_per_strategy_and_the_pretrained_reference(tmp_path):
    store = RunStore(tmp_path)
    _fd_run(store, "finetuned-pnet", 0.85)
    newest = _fd_run(store, "finetuned-pnet", 0.87)
    _fd_run(store, "finetuned-all", 0.95, status_ok=False)  # failed: not a result
    _fd_run(store, "finetuned-all", 0.92)
    tile = headlines.tile(headlines.STUDIES[0], store)
    assert tile.values == {"finetuned-all": 0.92, "finetuned-pnet": 0.87, "pretrained": 0.80}
    assert tile.headline() == "**finetuned-all 0.920**, +0.120 over pretrained"
    bars = tile.figure.data[0]
    assert list(bars.y) == ["pretrained", "finetuned-pnet", "finetuned-all"]  # best on top
    assert bars.marker.color[1] == plots.colour_of(f"mtcnn/finetuned-pnet-{newest}")  # the run's colour everywhere
