"""ZipVoice and ZipVoice-Distill acoustic models: tokens + prompt features -> log-mel features (x 0.1)."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import InvalidOptionError
from .durations import concat_tokens, frame_token_index, lengths_of, pad_token_ids, predict_num_frames
from .sampler import StepCallback, Velocity, euler_sample
from .zipformer import TTSZipformer


class ZipVoiceModel(nn.Module):
    """Text encoder + flow-matching decoder. ``distill=True`` is ZipVoice-Distill (guidance scale is an input
    of the decoder); otherwise base ZipVoice with classifier-free guidance by a doubled batch."""

    def __init__(self, cfg: ModelConfig, distill: bool) -> None:
        super().__init__()
        self.config = cfg
        self._distill = bool(distill)
        self.fm_decoder = TTSZipformer(
            in_dim=3 * cfg.feat_dim, out_dim=cfg.feat_dim,
            downsampling_factor=cfg.fm_decoder_downsampling_factor, num_layers=cfg.fm_decoder_num_layers,
            cnn_module_kernel=cfg.fm_decoder_cnn_module_kernel, dim=cfg.fm_decoder_dim,
            feedforward_dim=cfg.fm_decoder_feedforward_dim, num_heads=cfg.fm_decoder_num_heads,
            query_head_dim=cfg.query_head_dim, pos_head_dim=cfg.pos_head_dim, value_head_dim=cfg.value_head_dim,
            pos_dim=cfg.pos_dim, time_embed_dim=cfg.time_embed_dim, guidance_embed=self._distill,
        )
        self.text_encoder = TTSZipformer(
            in_dim=cfg.text_embed_dim, out_dim=cfg.feat_dim, downsampling_factor=(1,),
            num_layers=(cfg.text_encoder_num_layers,), cnn_module_kernel=(cfg.text_encoder_cnn_module_kernel,),
            dim=cfg.text_encoder_dim, feedforward_dim=cfg.text_encoder_feedforward_dim,
            num_heads=cfg.text_encoder_num_heads, query_head_dim=cfg.query_head_dim,
            pos_head_dim=cfg.pos_head_dim, value_head_dim=cfg.value_head_dim, pos_dim=cfg.pos_dim,
        )
        self.embed = nn.Embedding(cfg.vocab_size, cfg.text_embed_dim)

    @property
    def is_distill(self) -> bool:
        return self._distill

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.weight.dtype

    # ------------------------------------------------------------------ text

    @torch.inference_mode()
    def text_condition(
        self, tokens: Sequence[Sequence[int]], prompt_tokens: Sequence[Sequence[int]],
        prompt_features_lens: Tensor, speed: float,
    ) -> Tuple[Tensor, Tensor]:
        """Prompt + target tokens encoded and spread evenly over the predicted frames.

        Returns text_condition (B, T, feat_dim) in the model dtype and padding_mask (B, T) bool (True = pad),
        T = the longest item's prompt + generated frames.
        """
        _check_token_batch(tokens, prompt_tokens, prompt_features_lens, self.config.vocab_size)
        _check_positive("speed", speed)
        all_tokens = concat_tokens(prompt_tokens, tokens)
        token_lens = lengths_of(all_tokens)
        frame_lens = predict_num_frames(prompt_features_lens, lengths_of(prompt_tokens), lengths_of(tokens), speed)
        encoded = self.encode_tokens(all_tokens)
        num_frames = int(frame_lens.max())
        index = frame_token_index(frame_lens, token_lens, num_frames).to(self.device)
        text_cond = torch.gather(encoded, 1, index[:, :, None].expand(-1, -1, encoded.shape[-1]))
        padding_mask = (torch.arange(num_frames)[None, :] >= frame_lens[:, None]).to(self.device)
        return text_cond, padding_mask

    def encode_tokens(self, tokens: Sequence[Sequence[int]]) -> Tensor:
        """Token lists -> text encoder output (B, max_len + 1, feat_dim) (one trailing pad slot per item)."""
        ids = pad_token_ids(tokens, self.config.pad_id).to(self.device)
        token_mask = torch.arange(ids.shape[1])[None, :] >= lengths_of(tokens)[:, None]
        contexts = self.text_encoder.prepare(ids.shape[1], token_mask)
        return self.text_encoder(self.embed(ids), contexts)

    # ------------------------------------------------------------------ velocity

    def velocity_fn(
        self, text_condition: Tensor, speech_condition: Tensor, padding_mask: Optional[Tensor],
        guidance_scale: float,
    ) -> Velocity:
        """A velocity function (t, x) -> v (float32) for fixed conditions; everything that does not depend on
        t or x (condition projections, masks, positions, guidance embedding) is computed here, once.

        text_condition, speech_condition: (B, T, feat_dim); padding_mask: (B, T) bool, True = pad, or None.
        Call it, and the function it returns, under ``torch.inference_mode()``.
        """
        if self._distill:
            return self._distilled_velocity(text_condition, speech_condition, padding_mask, guidance_scale)
        return self._guided_velocity(text_condition, speech_condition, padding_mask, guidance_scale)

    @torch.inference_mode()
    def velocity(
        self, t, x: Tensor, text_condition: Tensor, speech_condition: Tensor, padding_mask: Optional[Tensor],
        guidance_scale: float,
    ) -> Tensor:
        """Velocity at time t (float or 0-d tensor) of state x (B, T, feat_dim), guidance included; float32."""
        fn = self.velocity_fn(text_condition, speech_condition, padding_mask, guidance_scale)
        return fn(torch.as_tensor(t, dtype=torch.float32).cpu(), x)

    def _split_in_proj(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """fm_decoder.in_proj as (W_x, W_text, W_speech, bias) for the input [x | text | speech]."""
        proj = self.fm_decoder.in_proj
        f = self.config.feat_dim
        w = proj.weight
        return w[:, :f].contiguous(), w[:, f : 2 * f], w[:, 2 * f :], proj.bias

    def _condition_bias(self, text: Optional[Tensor], speech: Optional[Tensor], like: Tensor) -> Tensor:
        """in_proj applied to [0 | text | speech] (None = zeros), (B, T, dim)."""
        _, w_text, w_speech, bias = self._split_in_proj()
        out = bias.expand(*like.shape[:2], bias.shape[0])
        if text is not None:
            out = out + F.linear(text.to(self.dtype), w_text)
        if speech is not None:
            out = out + F.linear(speech.to(self.dtype), w_speech)
        return out.contiguous()

    def _distilled_velocity(self, text, speech, padding_mask, guidance_scale) -> Velocity:
        dec = self.fm_decoder
        w_x = self._split_in_proj()[0]
        cond = self._condition_bias(text, speech, text)
        contexts = dec.prepare(text.shape[1], padding_mask)
        guidance = dec.embed_guidance(torch.tensor([guidance_scale], dtype=torch.float32))

        def velocity(t: Tensor, x: Tensor) -> Tensor:
            time_emb = dec.embed_time(t.reshape(1), guidance)
            return dec.encode(_project_state(x, w_x, cond), contexts, time_emb).float()

        return velocity

    def _guided_velocity(self, text, speech, padding_mask, guidance_scale) -> Velocity:
        dec = self.fm_decoder
        w_x = self._split_in_proj()[0]
        cond = self._condition_bias(text, speech, text)
        if guidance_scale == 0.0:
            contexts = dec.prepare(text.shape[1], padding_mask)

            def plain(t: Tensor, x: Tensor) -> Tensor:
                return dec.encode(_project_state(x, w_x, cond), contexts, dec.embed_time(t.reshape(1))).float()

            return plain

        # Doubled batch [unconditional; conditional]. Early on (t <= 0.5) the unconditional half still sees the
        # prompt audio and the guidance is doubled; later it sees neither text nor audio.
        both_mask = None if padding_mask is None else torch.cat([padding_mask, padding_mask])
        contexts = dec.prepare(text.shape[1], both_mask)
        early = torch.cat([self._condition_bias(None, speech, text), cond])
        late = torch.cat([self._condition_bias(None, None, text), cond])
        scale = torch.tensor(guidance_scale, dtype=torch.float32)

        def guided(t: Tensor, x: Tensor) -> Tensor:
            is_late = bool(t > 0.5)
            base = late if is_late else early
            hx = torch.matmul(x.to(w_x.dtype), w_x.t())
            h = base + torch.cat([hx, hx])
            out = dec.encode(h, contexts, dec.embed_time(t.reshape(1))).float()
            uncond, conditional = out.chunk(2, dim=0)
            g = scale if is_late else scale * 2
            return (1 + g) * conditional - g * uncond

        return guided

    # ------------------------------------------------------------------ sampling

    @torch.inference_mode()
    def sample(
        self, tokens: Sequence[Sequence[int]], prompt_tokens: Sequence[Sequence[int]], prompt_features: Tensor,
        prompt_features_lens: Tensor, speed: float = 1.0, t_shift: float = 0.5, guidance_scale: float = 1.0,
        num_step: int = 4, noise: Optional[Tensor] = None, generator: Optional[torch.Generator] = None,
        step_callback: Optional[StepCallback] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Generate features for ``tokens`` in the voice of the prompt.

        prompt_features: (B, Tp, feat_dim) scaled log-mel, padded; prompt_features_lens: (B,) int64.
        noise: optional initial state (B, T, feat_dim) (T = prompt + generated frames of the longest item);
        otherwise drawn with ``generator``. Returns (features (B, Tg, feat_dim) float32 without the prompt
        frames, zero-padded; lengths (B,) int64).
        """
        _check_sampling(num_step, t_shift, guidance_scale)
        feat_dim = self.config.feat_dim
        if prompt_features.dim() != 3 or prompt_features.shape[-1] != feat_dim:
            raise InvalidOptionError(
                f"prompt_features must have shape (B, T, {feat_dim}), got {tuple(prompt_features.shape)}"
            )
        text_cond, padding_mask = self.text_condition(tokens, prompt_tokens, prompt_features_lens, speed)
        batch, num_frames, _ = text_cond.shape
        prompt_lens = prompt_features_lens.to(self.device, torch.int64)
        speech_cond = speech_condition(prompt_features.to(self.device), prompt_lens, num_frames)
        x0 = _initial_noise(noise, generator, (batch, num_frames, feat_dim), self.device)
        velocity = self.velocity_fn(text_cond, speech_cond, padding_mask, guidance_scale)
        x1 = euler_sample(velocity, x0, num_step, t_shift, step_callback)
        lens = (~padding_mask).sum(dim=-1) - prompt_lens
        return strip_prompt(x1, prompt_lens, lens), lens


def _project_state(x: Tensor, w_x: Tensor, cond: Tensor) -> Tensor:
    """The x part of the decoder's in_proj added to the precomputed condition part: (B, T, dim)."""
    return torch.addmm(cond.flatten(0, 1), x.to(w_x.dtype).flatten(0, 1), w_x.t()).view_as(cond)


def speech_condition(prompt_features: Tensor, prompt_lens: Tensor, num_frames: int) -> Tensor:
    """Prompt features for each item's first prompt_lens frames, zeros after: (B, num_frames, F) float32."""
    b, tp, f = prompt_features.shape
    n = min(tp, num_frames)
    out = prompt_features.new_zeros(b, num_frames, f, dtype=torch.float32)
    out[:, :n] = prompt_features[:, :n]
    beyond = torch.arange(num_frames, device=out.device)[None, :] >= prompt_lens.to(out.device)[:, None]
    return out.masked_fill(beyond[:, :, None], 0.0)


def strip_prompt(x: Tensor, prompt_lens: Tensor, lens: Tensor) -> Tensor:
    """x: (B, T, F); item i's frames [prompt_lens[i], prompt_lens[i] + lens[i]) -> (B, max(lens), F), zero-padded."""
    b, t, f = x.shape
    width = int(lens.max()) if lens.numel() else 0
    frames = torch.arange(width, device=x.device)[None, :]
    index = (prompt_lens[:, None] + frames).clamp(max=max(t - 1, 0))
    out = torch.gather(x, 1, index[:, :, None].expand(b, width, f))
    return out.masked_fill((frames >= lens[:, None])[:, :, None], 0.0)


def _initial_noise(noise: Optional[Tensor], generator: Optional[torch.Generator], shape, device) -> Tensor:
    if noise is None:
        gen_device = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32).to(device)
    if tuple(noise.shape) != tuple(shape):
        raise InvalidOptionError(f"noise must have shape {tuple(shape)} (B, T, feat_dim), got {tuple(noise.shape)}")
    return noise.to(device, torch.float32)


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InvalidOptionError(f"{name} must be a finite number > 0, got {value!r}")


def _check_sampling(num_step: int, t_shift: float, guidance_scale: float) -> None:
    if not isinstance(num_step, int) or isinstance(num_step, bool) or num_step < 1:
        raise InvalidOptionError(f"num_step must be an integer >= 1, got {num_step!r}")
    _check_positive("t_shift", t_shift)
    if not (isinstance(guidance_scale, (int, float)) and math.isfinite(guidance_scale)):
        raise InvalidOptionError(f"guidance_scale must be a finite number, got {guidance_scale!r}")


def _check_token_batch(tokens, prompt_tokens, prompt_lens: Tensor, vocab_size: int) -> None:
    if len(tokens) == 0 or len(tokens) != len(prompt_tokens) or prompt_lens.shape != (len(tokens),):
        raise InvalidOptionError(
            f"tokens ({len(tokens)} items), prompt_tokens ({len(prompt_tokens)} items) and prompt_features_lens "
            f"(shape {tuple(prompt_lens.shape)}) must describe the same non-empty batch"
        )
    for i, p in enumerate(prompt_tokens):
        if len(p) == 0:
            raise InvalidOptionError(f"prompt_tokens[{i}] is empty: the prompt transcript must have tokens")
    for name, batch in (("tokens", tokens), ("prompt_tokens", prompt_tokens)):
        for i, seq in enumerate(batch):
            bad = [v for v in seq if not 0 <= int(v) < vocab_size]
            if bad:
                raise InvalidOptionError(f"{name}[{i}] has ids {bad[:5]} outside the vocabulary [0, {vocab_size})")
    if bool((prompt_lens < 1).any()):
        raise InvalidOptionError(f"prompt_features_lens must be >= 1, got {prompt_lens.tolist()}")
