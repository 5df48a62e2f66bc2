"""Typed encoder configs (encoders.config): the JSON round trip the shipped checkpoints rely on,
checks on construction, and what fine-tuning may change."""
from __future__ import annotations

import json

import pytest

from encoders.checkpoint import CONFIG, SHIPPED, checkpoint_config
from encoders.config import CLIP, TOKENS, ConfigError, EncoderConfig
from encoders.model import default_config
from encoders.tokens import default_token_config


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_configs_round_trip_byte_for_byte(name):
    text = (SHIPPED[name] / CONFIG).read_text()
    config = EncoderConfig.from_dict(json.loads(text))
    assert json.dumps(config.to_dict(), indent=2) == text
    assert checkpoint_config(SHIPPED[name]) == config and config.family == CLIP
    assert config["embed_dim"] == config.embed_dim == 384 and "fusion" not in config  # the document, read as a mapping
    assert config.imu.groups == ["acc", "gyr"] and config.rates == {"imu": 50.0, "pose": 25.0}
    assert config.trained_on.labels and config.window.length == 5.0


def test_made_configs_round_trip_and_name_their_family():
    for config, family in ((default_config(embed_dim=16, fusion="attention"), CLIP),
                           (default_token_config(embed_dim=16, dim=16, layers=1, heads=2), TOKENS)):
        again = EncoderConfig.from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config and again.family == family


def test_a_config_says_which_queries_its_encoder_embeds():
    """The one rule the query layer's encoder choice asks (query.searcher)."""
    shipped = checkpoint_config(SHIPPED["builtin"])
    assert [q for q in ("text", "imu", "pose", "video", "tokens", None) if shipped.embeds(q)] == ["text", "imu", "pose", None]
    tokens = default_token_config(embed_dim=16, dim=16, layers=1, heads=2)
    assert tokens.embeds("tokens") and not tokens.embeds("text")
    assert not default_config(embed_dim=16).embeds("text")  # no text tower


@pytest.mark.parametrize("change, words", [
    ({"embed_dim": 10**12}, "embed_dim must be between 1 and 16384"),
    ({"window": {"length": "long", "hop": 1.0}}, "window.length (seconds)"),
    ({"towers": {}}, "no `towers`"),
])
def test_a_config_is_checked_once_on_reading_in_one_line_naming_its_source(change, words):
    raw = {**default_config(embed_dim=16).to_dict(), **change}
    with pytest.raises(ConfigError) as info:
        EncoderConfig.from_dict(raw, "ckpt/config.json")
    assert str(info.value).startswith("ckpt/config.json: ") and words in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="must be between 0 and 65536"):
        default_config(embed_dim=16, params={"width": 10**9})


def test_override_keeps_what_the_config_fixes_and_changes_what_it_may():
    config = default_config(embed_dim=16)
    tuned = config.override("--init a", arch="cnn_gru", window=5.0, dim=16, channel_dropout=0.2, fusion="attention")
    assert tuned.imu.channel_dropout == 0.2 and tuned.fusion["architecture"] == "attention"
    assert config.imu.channel_dropout == 0.0 and config.fusion is None  # a new config; the first is unchanged
    for options, words in (({"arch": "patch_transformer"}, "--arch patch_transformer contradicts --init a"),
                           ({"window": 3.0}, "--window 3.0 contradicts --init a, whose window length is 5.0"),
                           ({"imu_channels": ["acc"]}, "--imu-channels acc contradicts"),
                           ({"text_tower": "minilm"}, "--text-tower minilm contradicts"),
                           ({"tower_params": {"width": 8}}, "--tower-params contradicts"),
                           ({"video_encoder": "small_cnn"}, "--video-encoder small_cnn contradicts"),
                           ({"width": 8}, "--width: not an option of a clip config")):
        with pytest.raises(ConfigError, match=words):
            config.override("--init a", **options)
    tokens = default_token_config(embed_dim=16, dim=16, layers=1, heads=2)
    tuned = tokens.override(weights={"body": 2.0}, mask_ratio=0.3, width=16)
    assert tuned.tokens.loss_weights["body"] == 2.0 and tuned.tokens.mask_ratio == 0.3
    with pytest.raises(ConfigError, match="--dim 32 contradicts"):
        tokens.override(dim=32)
    with pytest.raises(ConfigError, match="a clip-level checkpoint; fine-tune it with `python -m encoders train --init`"):
        config.expect(TOKENS, "--init a")
