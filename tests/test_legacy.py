"""import-legacy: the original pickled torchvision model becomes a standard folder with identical outputs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from transformers import pipeline

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.legacy import ORIGINAL_MEAN, ORIGINAL_STD, import_legacy


class OriginalWrapper(torch.nn.Module):
    """Like the original notebook's class: the torchvision model under an attribute named `model`."""

    def __init__(self):
        super().__init__()
        self.model = torchvision.models.resnet18(weights=None)
        self.model.fc = torch.nn.Linear(512, 2)

    def forward(self, x):
        return self.model(x)


def _perturb_bn(net):  # random weights *and* running stats, so a mis-mapped buffer would show
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.mark.parametrize("layout", ["model.", "module.model.", ""])
def test_imported_folder_reproduces_the_original(tmp_path, layout):
    torch.manual_seed(0)
    original = OriginalWrapper().eval()
    _perturb_bn(original)
    state = original.state_dict() if layout == "model." else \
        {f"module.{k}": v for k, v in original.state_dict().items()} if layout else original.model.state_dict()
    torch.save(state, tmp_path / "neural_image_classifier_model.pth")

    out = import_legacy(tmp_path / "neural_image_classifier_model.pth", tmp_path / "imported")
    config = json.loads((out / "config.json").read_text())
    assert config["label_names"] == ["non-laughter", "laughter"]
    assert "Not a true AUC".lower() in (out / "README.md").read_text().lower()

    transform = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize(ORIGINAL_MEAN, ORIGINAL_STD)])
    pipe = pipeline("image-classification", model=str(out), top_k=2)
    rng = np.random.default_rng(1)
    for size in ((300, 200), (1050, 800), (224, 224), (97, 131)):
        img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        with torch.no_grad():
            expected = original(transform(img)[None]).softmax(-1)[0]
        got = {d["label"]: d["score"] for d in pipe(img)}
        assert abs(got["non-laughter"] - expected[0].item()) < 1e-4
        assert abs(got["laughter"] - expected[1].item()) < 1e-4


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_are_refused_and_not_run(tmp_path, capfd):
    torch.save({"fc.weight": torch.zeros(2, 512), "payload": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(KernelLaughError, match="refused"):
        import_legacy(tmp_path / "evil.pth", tmp_path / "out")
    assert "pwned" not in capfd.readouterr().out
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_wrong_architecture_names_the_keys(tmp_path):
    net = torchvision.models.resnet34(weights=None)
    net.fc = torch.nn.Linear(512, 2)
    torch.save(net.state_dict(), tmp_path / "r34.pth")
    with pytest.raises(KernelLaughError, match="unexpected keys.*layer1.2"):
        import_legacy(tmp_path / "r34.pth", tmp_path / "out")


def test_cli_import_legacy(tmp_path):
    torch.save(OriginalWrapper().state_dict(), tmp_path / "m.pth")
    cmd = [sys.executable, "-m", "kernel_laugh.cli", "import-legacy", str(tmp_path / "m.pth"), "--output-dir", str(tmp_path / "o")]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o" / "model.safetensors").is_file()
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "nope.pth"), "--output-dir", str(tmp_path / "o2")], capture_output=True, text=True)
    assert bad.returncode != 0 and "nope.pth" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("content, why", [
    (b"hello, not a checkpoint\n", "not a PyTorch checkpoint"),  # text: once KeyError: 101 from the unpickler
    (b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01e", "not a readable PyTorch state dict"),  # a broken pickle
])
def test_a_file_that_is_not_a_checkpoint_gets_one_line_naming_it(tmp_path, content, why):
    path = tmp_path / "notes.pth"
    path.write_bytes(content)
    cmd = [sys.executable, "-m", "kernel_laugh.cli", "import-legacy", str(path), "--output-dir", str(tmp_path / "o")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    err = done.stderr.strip()
    assert done.returncode == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}: {why}") and "KeyError: 101" not in err


def test_a_whole_pickled_model_is_refused_in_one_plain_sentence(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pth")  # the whole module, not its state dict
    with pytest.raises(KernelLaughError) as info:
        import_legacy(tmp_path / "whole.pth", tmp_path / "out")
    message = str(info.value)
    assert "\x1b[" not in message and "\n" not in message  # no terminal colour codes, one line
    assert "torch.nn.modules.linear.Linear" in message and message.endswith("can run arbitrary code.")
