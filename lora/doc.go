// Package lora adds LoRA adapters (Hu et al. 2021) to the nn.Linear layers of a
// model, following Hugging Face PEFT's LoRA (tuners/lora/layer.py, config.py): the
// adapter wraps the base layer through its Adapter hook instead of changing it, and
// adds
//
//	y = x·Wᵀ + b + scale · (dropout(x)·Aᵀ)·Bᵀ,   scale = alpha/r (alpha/√r with rsLoRA)
//
// with A (r, in) and B (out, r) the only trainable parameters: Apply freezes every
// base parameter.
//
// Layers are chosen by name as in PEFT: target_modules entries match a name or a
// dot-separated suffix of it ("attn.q" matches "blocks.0.attn.q"), or one regular
// expression matches whole names; rank_pattern and alpha_pattern override r and alpha
// per layer, and a rank of 0 leaves a layer without adapter (EVA's redistribution
// produces those).
//
// Initialisation (Config.Init): random (PEFT's default, Kaiming-uniform A and B = 0),
// gaussian, pissa and olora (which move the top of W into the adapter and leave the
// residual in the base weight), and eva (A from package eva's state, B = 0). With B = 0
// the adapted model computes exactly what the base model did.
//
// Merge folds scale·B·A into W for inference (safe mode refuses NaN/Inf); Unmerge
// takes it out again. Save writes adapter_config.json and adapter_model.safetensors
// as PEFT lays them out, with tensor names "base_model.model.<layer>.lora_A.weight"
// and a fingerprint of the base model, so that Load onto another checkpoint, or with
// tensors of the wrong shape, is an error rather than a silently wrong model.
//
// Kernels follow package nn: Forward keeps what Backward needs (the dropout mask, the
// product x·Aᵀ), Backward adds into the gradients, buffers are reused across steps.
package lora
