"""qres's optimizers as torch.optim optimizers: QSGD, QtAdam, QtAdamW, and the baselines SGD, AdamW
(the reference's form) and StdSGD, each stepping through the C++ library's code
(torch.ops.qres.step_), so the same bits, defaults and error messages as
`bazel run //qres/tools:train -- --algo=...`.

    optimizer = QtAdamW(model.parameters(), lr=1e-3, weight_decay=0.01, qp=2, rounding="stochastic", seed=7)
    ...; optimizer.step(); optimizer.index  # the quantization index after the step

Every option is a keyword with its default in the signature and in `optimizer.defaults`. The
optimizer's options (betas, eps, weight_decay, form, momentum, ..., maximize) may differ per param
group; the quantizer's (qp, schedule, rounding, ...) are one for the optimizer. A param group's
other keys (torch's initial_lr, max_lr, swa_lr, param_names, your own) are kept as torch.optim keeps
them. A value of the wrong type is a TypeError, one out of range a ValueError with the C++ library's
message; a state of another shape, dtype or device than its parameter is a ValueError naming both.
"""
from __future__ import annotations

import math
import numbers
import sys
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import ParamsT

__all__ = ["QresOptimizer", "QSGD", "QtAdam", "QtAdamW", "AdamW", "SGD", "StdSGD", "create"]

_QUANTIZER_STATE = "qres_quantizer"  # int64 [3 + parameters]: see ops.cc
_INDEX = "qres_index"                # float64 [1]

# Each option's kind: float, int, bool, betas, or the strings it may be.
_KINDS: Dict[str, Any] = {
    "lr": float, "eps": float, "weight_decay": float, "momentum": float, "dampening": float,
    "base": float, "eta": float, "kappa": float, "warmup": float,
    "qp": int, "seed": int, "index_limit": int, "batches_per_epoch": int, "epochs": int,
    "nesterov": bool, "maximize": bool, "check_first_step": bool, "bump_on_zero_update": bool, "offset": bool,
    "betas": "betas",
    "form": ("reference", "torch"),
    "schedule": ("bump", "log", "none"),
    "rounding": ("half_up", "floor", "nearest_even", "stochastic"),
    "zero_test": ("sum", "all_zero"),
    "scope": ("global", "per_tensor"),
}
# The quantizer's options, one per optimizer. qp, batches_per_epoch and epochs go to the C++ library
# as the train tool's flags, the others as its --quant_params; a schedule's own keys always, another
# schedule's only when they differ from their defaults (so that the C++ library refuses them).
_SCHEDULE_KEYS = {
    "bump": ("zero_test", "scope", "index_limit", "check_first_step", "bump_on_zero_update"),
    "log": ("base", "eta", "kappa", "warmup", "offset"),
}
_QUANTIZER_DEFAULTS = dict(qp=0, schedule="bump", rounding="half_up", seed=0, zero_test="sum", scope="global",
                           index_limit=32, bump_on_zero_update=False, base=2.0, eta=524288.0,
                           kappa=2.0, warmup=0.2, offset=True, batches_per_epoch=0, epochs=0)
_QUANTIZER_KEYS = tuple(_QUANTIZER_DEFAULTS) + ("check_first_step",)
# torch.optim's implementation switches: qres has one implementation, and says so when one is asked for.
_IMPLEMENTATION_FLAGS = {
    "foreach": "qres steps every parameter in one call of its own multi-tensor C++ loops; leave foreach unset",
    "fused": "qres's CPU step is always fused, and its CUDA step is one fused launch where the build has it; "
             "leave fused unset",
    "capturable": "qres.optim's step reads its quantizer state on the host, so it cannot be captured in a "
                  "CUDA graph yet; leave capturable unset",
    "differentiable": "a quantized step has no useful gradient; leave differentiable unset",
    "amsgrad": "qres has no AMSGrad variant",
}


@torch.library.register_fake("qres::step_")
def _step_fake(*args):
    """The step under torch.compile's FakeTensors: it writes its arguments in place and returns
    nothing (the schema's alias annotations say which it writes)."""
    return None


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fits_float(value: numbers.Real) -> bool:
    try:
        float(value)
        return True
    except OverflowError:
        return False


def _is_real_tensor(value: Any) -> bool:
    return isinstance(value, Tensor) and value.numel() == 1 and value.is_floating_point()


def _check(owner: str, key: str, value: Any) -> None:
    """Refuses a value of the wrong kind for option `key` (the C++ library checks the ranges)."""
    kind = _KINDS[key]
    where = f"{owner}: {key}={value!r}"
    if kind is float:
        if not (_is_real(value) or (key == "lr" and _is_real_tensor(value))):
            raise TypeError(f"{where} must be a real number" + (" or a one-element tensor" if key == "lr" else ""))
        if _is_real(value) and not _fits_float(value):
            raise ValueError(f"{where} is beyond any float")
    elif kind is int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{where} must be an int")
    elif kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be True or False")
    elif kind == "betas":
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and
                all((_is_real(b) and _fits_float(b)) or _is_real_tensor(b) for b in value)):
            raise TypeError(f"{where} must be a pair of real numbers (beta1, beta2)")
    elif not isinstance(value, str) or value not in kind:
        raise (ValueError if isinstance(value, str) else TypeError)(f"{where} must be one of {', '.join(kind)}")


def _shown(value: Any) -> str:
    """A value in one line of an error: a tensor by its dtype and shape."""
    if isinstance(value, Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {list(value.shape)}"
    return repr(value)[:80]


def _text(value: Any) -> str:
    """A checked value (not a tensor) as the C++ options parser reads it ("key=value,...")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))  # the shortest text that reads back as the same double
    return value


def _float64(value: Union[float, Tensor]) -> Tensor:
    """A number (or a one-element tensor) as a CPU float64 scalar tensor. Under torch.compile a
    float that changes from step to step (a scheduled lr) is a symbolic input, not a constant."""
    if isinstance(value, Tensor):
        return value.detach().to(device="cpu", dtype=torch.float64).reshape(())
    return torch.zeros((), dtype=torch.float64).add(float(value))


def _made_by_zero_redundancy_optimizer() -> bool:
    """Whether torch.distributed.optim.ZeroRedundancyOptimizer is making this optimizer for its rank's
    shard (its _init_local_optimizer calls the class, a few frames up)."""
    try:
        from torch.distributed.optim import ZeroRedundancyOptimizer
    except ImportError:  # a torch without distributed
        return False
    frame = sys._getframe(1)
    for _ in range(6):
        frame = frame.f_back
        if frame is None:
            return False
        if isinstance(frame.f_locals.get("self"), ZeroRedundancyOptimizer):
            return True
    return False


class QresOptimizer(Optimizer):
    """A qres optimizer (the registry's `algorithm`) as a torch.optim.Optimizer."""

    algorithm: str = ""                  # the C++ registry's name
    _option_keys: Tuple[str, ...] = ()   # the optimizer's own options, per param group
    _number_keys: Tuple[str, ...] = ()   # those of them that are numbers (betas: a pair)
    _quantized = False                   # whether it has the quantizer's options
    _adam = False                        # Adam family: exp_avg and exp_avg_sq; else SGD's momentum_buffer
    _decoupled = False                   # Adam family: decoupled weight decay (AdamW, QtAdamW)
    _check_first_step = True             # the quantizer's default (QSGD: False)

    def _setup(self, params: ParamsT, options: Dict[str, Any]) -> None:
        """The subclasses' __init__: `options` are its keywords (its signature's locals)."""
        if self._quantized and _made_by_zero_redundancy_optimizer():
            raise TypeError(f"{self.algorithm} under ZeroRedundancyOptimizer would quantize each rank's shard on "
                            "its own, and the ranks' quantization indices would drift apart: use "
                            "DistributedDataParallel (qres steps it bit for bit as one process)")
        self._refuse_implementation_flags(options, "")
        for flag in _IMPLEMENTATION_FLAGS:
            options.pop(flag, None)
        defaults = {key: options[key] for key in ("lr",) + self._option_keys + (_QUANTIZER_KEYS if self._quantized
                                                                               else ())}
        if self._adam:
            defaults.update(self._form_defaults(defaults["form"], defaults["eps"], defaults["weight_decay"]))
        for key, value in defaults.items():
            _check(self.algorithm, key, value)
        super().__init__(params, defaults)  # add_param_group checks each group

    def _refuse_implementation_flags(self, options: Dict[str, Any], whose: str) -> None:
        """torch.optim's implementation switches set to True, in the keywords or a group (`whose`)."""
        for flag, why in _IMPLEMENTATION_FLAGS.items():
            if options.get(flag):
                raise TypeError(f"{self.algorithm}: {whose}{flag}=True is not supported: {why}")

    def _check_quantizer_keys(self, group: Dict[str, Any], whose: str) -> None:
        """The quantizer's options are the optimizer's: a group (`whose`) may only repeat them."""
        for key in _QUANTIZER_KEYS:
            if key not in group:
                continue
            if key not in self.defaults:
                raise TypeError(f"{self.algorithm}: {whose}{key}: {self.algorithm} does not quantize")
            if group[key] != self.defaults[key]:
                raise ValueError(f"{self.algorithm}: {whose}{key}={group[key]!r}: the quantizer's options are one "
                                 f"for the optimizer ({key}={self.defaults[key]!r})")

    @classmethod
    def _form_defaults(cls, form: str, eps: Optional[float], weight_decay: Optional[float]) -> Dict[str, float]:
        """eps and weight_decay, where not given, as the form gives them: the reference's 1e-6 and 0,
        torch.optim's 1e-8 and (AdamW) 0.01."""
        torch_form = form == "torch"
        return {"eps": eps if eps is not None else (1e-8 if torch_form else 1e-6),
                "weight_decay": weight_decay if weight_decay is not None else
                (0.01 if torch_form and cls._decoupled else 0.0)}

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        self._refuse_implementation_flags(param_group, "a param group's ")
        self._check_quantizer_keys(param_group, "a param group's ")
        if self._adam and param_group.get("form", self.defaults["form"]) != self.defaults["form"]:
            param_group.update(self._form_defaults(param_group["form"], param_group.get("eps"),
                                                   param_group.get("weight_decay")))
        super().add_param_group(param_group)
        try:
            self._describe(self.param_groups[-1])  # every option checked now, with the C++ messages
        except Exception:
            self.param_groups.pop()
            raise

    def _describe(self, group: Dict[str, Any]) -> str:
        """The C++ registry's one-line description of `group`'s optimizer, or its error (ValueError)."""
        for key in ("lr",) + self._option_keys:
            _check(self.algorithm, key, group[key])
        return torch.ops.qres.describe(self.algorithm, self._group_text(group), self._group_numbers(group),
                                       self._number_keys_flat, *self._quantizer())

    @property
    def description(self) -> str:
        """The optimizer's one-line description: the algorithm and its quantizer's options."""
        return self._describe(self.defaults)

    def _quantizer(self) -> Tuple[str, int, int, int]:
        """The quantizer's options as the C++ library takes them: its --quant_params text, qp,
        batches_per_epoch and epochs. Fixed at construction (one for the optimizer), so made once:
        under torch.compile they are constants of the graph."""
        spec = self.__dict__.get("_quantizer_spec")
        if spec is None:
            ints = [int(self.defaults[key]) if self._quantized else 0 for key in ("qp", "batches_per_epoch", "epochs")]
            spec = self.__dict__["_quantizer_spec"] = (self._quantizer_text(), *ints)
        return spec

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.pop("_quantizer_spec", None)  # made again from the defaults

    def _quantizer_text(self) -> str:
        if not self._quantized:
            return ""
        defaults = self.defaults
        schedule = defaults["schedule"]
        own = set(_SCHEDULE_KEYS.get(schedule, ()))
        if schedule != "none":
            own |= {"rounding", "seed"}
        keys = [key for key in _QUANTIZER_KEYS if key not in ("qp", "batches_per_epoch", "epochs") and
                (key in own or defaults[key] != self._quantizer_default(key))]
        return ",".join(f"{key}={_text(defaults[key])}" for key in keys)

    @classmethod
    def _quantizer_default(cls, key: str) -> Any:
        return cls._check_first_step if key == "check_first_step" else _QUANTIZER_DEFAULTS[key]

    def _group_text(self, group: Dict[str, Any]) -> str:
        """The group's options that are not numbers, for the C++ parser: only qres's own keys
        (maximize is done here, by negating the gradients)."""
        return ",".join(f"{key}={_text(group[key])}" for key in self._option_keys
                        if key != "maximize" and key not in self._number_keys)

    @property
    def _number_keys_flat(self) -> List[str]:
        """The columns of _group_numbers after the lr: a pair's key twice."""
        return [key for key in self._number_keys for _ in range(2 if key == "betas" else 1)]

    def _group_numbers(self, group: Dict[str, Any]) -> Tensor:
        """The group's lr and numeric options, a float64 tensor (ops.cc: numbers)."""
        values = [group["lr"]]
        for key in self._number_keys:
            values.extend(group[key] if key == "betas" else (group[key],))
        if not torch.compiler.is_compiling() and not any(isinstance(value, Tensor) for value in values):
            # Eager, plain numbers: one tensor (the same doubles; a seventh of the symbolic path's cost).
            return torch.tensor(values, dtype=torch.float64)
        return torch.stack([_float64(value) for value in values])

    @property
    def index(self) -> float:
        """The quantization index after the last step (bump: n; log: log2 Q_p), as the train tool
        prints it; 0 before the first step or for an optimizer that does not quantize."""
        shared = self.state.get(self._first_param())
        return float(shared[_INDEX]) if shared and _INDEX in shared else 0.0

    def _first_param(self) -> Tensor:
        return self.param_groups[0]["params"][0]

    def _state(self, param: Tensor) -> Dict[str, Any]:
        """The state of a parameter stepped now, made at its first step."""
        state = self.state[param]
        if "step" not in state:  # (the first parameter's may hold the quantizer's state alone)
            state["step"] = torch.zeros((), dtype=torch.int64)
        for name in (("exp_avg", "exp_avg_sq") if self._adam else ("momentum_buffer",)):
            if name not in state:  # SGD's buffer stays empty until its first momentum step
                state[name] = (torch.zeros_like(param, memory_format=torch.contiguous_format) if self._adam else
                               torch.empty(0, dtype=param.dtype, device=param.device))
        return state

    def _placeholders(self) -> Dict[str, Tensor]:
        """What a parameter that has no state and is not stepped now stands in the lists with: one
        step count and one empty buffer for all such parameters, never read or written."""
        if getattr(self, "_placeholder_state", None) is None:
            empty = torch.empty(0)
            self._placeholder_state = {"step": torch.zeros((), dtype=torch.int64), "exp_avg": empty,
                                       "exp_avg_sq": empty, "momentum_buffer": empty}
        return self._placeholder_state

    def _init_group(self, group: Dict[str, Any], with_grads: bool, params: List[Tensor],
                    grads: List[Optional[Tensor]], state0: List[Tensor], state1: List[Tensor], steps: List[Tensor],
                    names: List[str]) -> None:
        """Appends `group`'s parameters, gradients and states to the lists, making the states of its
        first steps. Under torch.compile, dynamo runs an optimizer's _init_group as it is, before it
        traces the rest of step(): the graph then takes the states as inputs and is the same at every
        step (as torch.optim's)."""
        first = len(params)
        for param in group["params"]:
            label = f"{self.algorithm}: parameter {len(params)}"
            if param.is_meta:  # here, not in ops.cc: a meta tensor sends the whole call to the fake kernel
                raise ValueError(f"{label} is on the meta device: it has no values to step")
            grad = param.grad if with_grads else None
            if grad is not None and grad.is_sparse:
                raise ValueError(f"{label} has a sparse gradient; qres's optimizers take dense gradients "
                                 "(an Embedding with sparse=False)")
            state = self._state(param) if grad is not None else self.state.get(param, {})
            if "step" not in state:
                state = self._placeholders()
            params.append(param)
            grads.append(grad)
            steps.append(state["step"])
            state0.append(state["exp_avg"] if self._adam else state["momentum_buffer"])
            if self._adam:
                state1.append(state["exp_avg_sq"])
        names.extend(group.get("param_names", ("",) * (len(params) - first)))
        # The quantizer's state, on the first parameter: one entry per parameter of every group.
        total = sum(len(g["params"]) for g in self.param_groups)
        shared = self.state[self._first_param()]
        if _QUANTIZER_STATE not in shared:
            shared[_QUANTIZER_STATE] = torch.zeros(3 + total, dtype=torch.int64)
        if _INDEX not in shared:
            shared[_INDEX] = torch.zeros(1, dtype=torch.float64)
        quantizer = shared[_QUANTIZER_STATE]
        if quantizer.dim() == 1 and quantizer.dtype == torch.int64 and len(quantizer) < 3 + total:
            # a group added since: its tensors start at qp (a state of another shape: the step refuses it)
            grown = torch.full((3 + total - len(shared[_QUANTIZER_STATE]),), self._quantizer()[1], dtype=torch.int64)
            shared[_QUANTIZER_STATE] = torch.cat([shared[_QUANTIZER_STATE], grown])

    def _arguments(self, with_grads: bool) -> List[Any]:
        """torch.ops.qres.step_'s arguments for the current groups and state (ops.cc)."""
        params, grads, state0, state1, steps, names = [], [], [], [], [], []
        texts, numbers, sizes = [], [], []
        for number, group in enumerate(self.param_groups):
            self._check_quantizer_keys(group, f"param_groups[{number}]'s ")  # a user may have changed one
            first = len(grads)
            self._init_group(group, with_grads, params, grads, state0, state1, steps, names)
            if group["maximize"]:
                grads[first:] = [None if g is None else torch.neg(g) for g in grads[first:]]
            texts.append(self._group_text(group))
            numbers.append(self._group_numbers(group))
            sizes.append(len(group["params"]))
        shared = self.state[self._first_param()]
        return [self.algorithm, texts, torch.stack(numbers), self._number_keys_flat, sizes, *self._quantizer(), names,
                params, grads, state0, state1, steps, shared[_QUANTIZER_STATE], shared[_INDEX]]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        torch.ops.qres.step_(*self._arguments(with_grads=True))
        return loss

    def _settings(self) -> Dict[str, Any]:
        """What the state means beyond the param groups: the algorithm and the quantizer's options."""
        return {"algorithm": self.algorithm, **{key: self.defaults[key] for key in _QUANTIZER_KEYS
                                                if key in self.defaults}}

    def state_dict(self) -> Dict[str, Any]:
        state_dict = super().state_dict()
        state_dict["qres"] = self._settings()
        return state_dict

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Loads qres's own state_dict (saved with the same algorithm and quantizer options), or
        torch.optim's for the same algorithm: torch.optim.AdamW's (or Adam's) into an Adam-family
        optimizer with form='torch' and the same weight decay, torch.optim.SGD's into SGD or QSGD.
        Every state is checked against its parameter before any is used; on an error the optimizer
        keeps what it had."""
        saved = state_dict.get("qres")
        if saved is None and self._is_qres_state(state_dict):
            # qres's own state without its top-level entry (torch.distributed.checkpoint keeps only
            # state and param_groups): the settings are the groups' quantizer keys.
            groups = state_dict.get("param_groups") or [{}]
            saved = {"algorithm": self.algorithm, **{key: groups[0][key] for key in _QUANTIZER_KEYS
                                                     if key in groups[0] and key in self.defaults}}
        if saved is None:
            state_dict = self._from_torch_optim(state_dict)
        elif saved != self._settings():
            raise ValueError(f"the optimizer state was saved with {saved}, "
                             f"not with this optimizer's {self._settings()}")
        # torch.optim casts a floating-point parameter's state to its dtype; the quantizer's integer
        # state and its float64 index must keep theirs, on the CPU.
        kept = {}
        for key, state in state_dict["state"].items():
            for name, dtype in ((_QUANTIZER_STATE, torch.int64), (_INDEX, torch.float64)):
                if isinstance(state, dict) and name in state:
                    value = state[name]
                    if not (isinstance(value, Tensor) and value.dtype == dtype and value.dim() == 1):
                        raise ValueError(f"{self.algorithm}: state '{name}' must be a "
                                         f"{str(dtype).replace('torch.', '')} vector, not {_shown(value)}")
                    kept[(key, name)] = value.detach().to("cpu").clone()
        # The saved groups name their parameters by id (torch.optim) or by name (torch.distributed.
        # checkpoint): either way, in the order of this optimizer's parameters, as torch.optim maps them.
        saved_ids = [key for group in state_dict.get("param_groups", []) for key in group.get("params", [])]
        before = (self.state, self.param_groups)
        try:
            super().load_state_dict(state_dict)
            params = [p for group in self.param_groups for p in group["params"]]
            by_key = dict(zip(saved_ids, params))
            for (key, name), value in kept.items():
                if key not in by_key:
                    raise ValueError(f"{self.algorithm}: state '{name}' is saved for parameter {key!r}, "
                                     f"which this optimizer does not have")
                self.state[by_key[key]][name] = value
            for index, param in enumerate(params):
                state = self.state.get(param, {})
                if set(state) - {_QUANTIZER_STATE, _INDEX}:
                    self._normalize_state(index, state)
            for group in self.param_groups:
                self._describe(group)
            torch.ops.qres.check(*self._arguments(with_grads=False))
        except Exception:
            self.state, self.param_groups = before
            raise

    @staticmethod
    def _is_qres_state(state_dict: Dict[str, Any]) -> bool:
        """Whether a state_dict is qres's: a parameter's state holds the quantizer's entries."""
        return any(isinstance(state, dict) and _QUANTIZER_STATE in state
                   for state in state_dict.get("state", {}).values())

    def _normalize_state(self, index: int, state: Dict[str, Any]) -> None:
        """A loaded state as the step takes it: its step count an int64 scalar, its buffers contiguous."""
        names = ("exp_avg", "exp_avg_sq") if self._adam else ("momentum_buffer",)
        required = ("step",) + names if self._adam else ()  # SGD's buffer is empty until momentum needs it
        missing = [name for name in required if name not in state]
        if missing:
            raise ValueError(f"{self.algorithm}: the loaded state of parameter {index} has no "
                             f"{', '.join(repr(m) for m in missing)} (it holds {sorted(state)})")
        step = state.get("step", 0)
        if isinstance(step, Tensor) and step.numel() == 1 and not step.is_complex():
            step = step.item()
        if not (_is_real(step) and math.isfinite(step) and step == int(step) and 0 <= step < 2 ** 63):
            raise ValueError(f"{self.algorithm}: state 'step' of parameter {index} is {_shown(step)}, not a count")
        state["step"] = torch.tensor(int(step), dtype=torch.int64)
        for name in names:
            value = state.get(name)
            if value is None and not self._adam:
                value = torch.empty(0)
            if isinstance(value, Tensor) and not value.is_contiguous():
                value = value.contiguous()
            state[name] = value

    def _from_torch_optim(self, state_dict: Dict[str, Any]) -> Dict[str, Any]:
        """torch.optim's state_dict for the same algorithm, as qres's; anything else a ValueError."""
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
            raise ValueError(f"{self.algorithm}: this state_dict has no param_groups")
        entries = {key for state in state_dict.get("state", {}).values() for key in state}
        adam_state = bool(entries & {"exp_avg", "exp_avg_sq"}) or "amsgrad" in groups[0]
        sgd_state = "nesterov" in groups[0] or entries == {"momentum_buffer"}
        what = f"{self.algorithm}: this state_dict is neither qres's (it has no 'qres' entry) nor torch.optim's"
        if self._adam != adam_state or (not self._adam and not sgd_state) or not entries <= \
                {"step", "exp_avg", "exp_avg_sq", "momentum_buffer", "max_exp_avg_sq"}:
            family = "Adam or AdamW" if self._adam else "SGD"
            raise ValueError(f"{what} {family} (its state holds {sorted(entries) or 'nothing'})")
        converted = []
        for number, (saved, ours) in enumerate(zip(groups, self.param_groups)):
            where = f"{self.algorithm}: torch.optim's param_groups[{number}]"
            if saved.get("amsgrad"):
                raise ValueError(f"{where} has amsgrad=True: {_IMPLEMENTATION_FLAGS['amsgrad']}")
            if self._adam:
                if bool(saved.get("decoupled_weight_decay", False)) != self._decoupled:
                    kinds = ("torch.optim.Adam (L2 decay)", "torch.optim.AdamW (decoupled decay)")
                    raise ValueError(f"{where} is {kinds[bool(saved.get('decoupled_weight_decay'))]}'s; "
                                     f"{self.algorithm}'s weight decay is {'decoupled' if self._decoupled else 'L2'}")
                if ours["form"] != "torch":
                    raise ValueError(f"{where}: torch.optim's Adam state loads into form='torch' (the reference "
                                     f"form puts eps elsewhere); this optimizer has form={ours['form']!r}")
            elif "momentum" not in self._option_keys and saved.get("momentum", 0) != 0:
                raise ValueError(f"{where} has momentum={saved['momentum']}, which {self.algorithm} does not have "
                                 "(use SGD or QSGD)")
            group = {key: value for key, value in saved.items() if key not in _IMPLEMENTATION_FLAGS and
                     key != "decoupled_weight_decay"}
            for key in self._option_keys + _QUANTIZER_KEYS:
                if key not in group and key in ours:
                    group[key] = ours[key]
            converted.append(group)
        states = {key: {name: value for name, value in state.items() if name != "max_exp_avg_sq"}
                  for key, state in state_dict.get("state", {}).items()}
        return {"state": states, "param_groups": converted}


def _locals(frame_locals: Dict[str, Any]) -> Tuple[Any, Dict[str, Any]]:
    options = dict(frame_locals)
    for name in ("self", "__class__"):
        options.pop(name, None)
    return options.pop("params"), options


class _AdamFamily(QresOptimizer):
    _adam = True
    _option_keys = ("betas", "eps", "weight_decay", "form", "maximize")
    _number_keys = ("betas", "eps", "weight_decay")


class _SgdFamily(QresOptimizer):
    _option_keys = ("momentum", "dampening", "weight_decay", "nesterov", "maximize")
    _number_keys = ("momentum", "dampening", "weight_decay")


_QUANTIZER_DOC = """
    The quantizer (one for the optimizer; algorithm.md §1):
        qp (int, 0): the bump schedule's first index n; Q_p = 2^max(n, 0) (the seed's -qp).
        schedule ("bump"): "bump" raises n while a tensor's quantized update is zero (sum or
            all_zero test; scope "global" or "per_tensor"; n stops past index_limit=32);
            "log" sets Q_p = eta * base^floor(log_base(ln(t_e + 2))) from the epoch t_e =
            step / batches_per_epoch, with a warm-up offset over warmup * epochs (base 2.0,
            eta 2^19, kappa 2.0, warmup 0.2, offset True); "none" quantizes nothing.
        rounding ("half_up"): or "floor", "nearest_even", "stochastic" (seed=0: reproducible).
        check_first_step, bump_on_zero_update (False): the reference's quirks (algorithm.md Q3, Q4).
    A NaN or infinite element of the update stays non-finite where it is (as in torch.optim) and
    takes no part in the bump test or the log schedule's norm, so the rest of its tensor trains on.
"""

_COMMON_DOC = """
    maximize (False): ascend instead of descend (the gradient negated), as torch.optim.
    foreach, fused, capturable, differentiable: torch.optim's implementation switches; qres has
        one implementation (its C++ loops, fused), and refuses them set to True.
"""


class _QuantizedAdamFamily(_AdamFamily):
    """QtAdamW and QtAdam: one signature, the Adam options and the quantizer's."""
    _quantized = True

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: Optional[float] = None, weight_decay: Optional[float] = None, *, form: str = "reference",
                 maximize: bool = False, qp: int = 0, schedule: str = "bump", rounding: str = "half_up",
                 seed: int = 0, zero_test: str = "sum", scope: str = "global", index_limit: int = 32,
                 check_first_step: bool = True, bump_on_zero_update: bool = False, base: float = 2.0,
                 eta: float = 524288.0, kappa: float = 2.0, warmup: float = 0.2, offset: bool = True,
                 batches_per_epoch: int = 0, epochs: int = 0, foreach: Optional[bool] = None,
                 fused: Optional[bool] = None, capturable: bool = False, differentiable: bool = False) -> None:
        self._setup(*_locals(locals()))


class QtAdamW(_QuantizedAdamFamily):
    __doc__ = """The paper's QtAdamW: AdamW whose update is quantized, w <- w + [h]_Q - lr*wd*w.

    m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  a_t = lr*sqrt(1-b2^t)/(1-b1^t)
    h = -a_t * m / (sqrt(v) + eps);  [h]_Q = R(Q_p * h) / Q_p with R the rounding.

    lr (1e-3; a float or a one-element tensor), betas ((0.9, 0.999)), eps (1e-6), weight_decay (0).
    form ("reference"): the reference's AdamW: eps on the uncorrected sqrt(v) and the decay after
        the step. form="torch" is torch.optim.AdamW's arithmetic (eps on the corrected sqrt(v),
        the decay first) with its defaults eps=1e-8 and weight_decay=0.01.
    Unlike torch.optim.AdamW, the default weight_decay is 0 (the paper's runs) and eps sits
    inside the bias correction.
""" + _QUANTIZER_DOC + _COMMON_DOC
    algorithm = "QtAdamW"
    _decoupled = True


class QtAdam(_QuantizedAdamFamily):
    __doc__ = """Adam (the reference's form, L2 decay) whose update is quantized: w <- w + [h]_Q.

    g <- g + wd*w;  m, v, a_t and h as QtAdamW's (eps on the uncorrected sqrt(v)).
    lr (1e-3), betas ((0.9, 0.999)), eps (1e-6; form="torch": 1e-8), weight_decay (0, L2).
    form ("reference"), or "torch" for torch.optim.Adam's arithmetic.
""" + _QUANTIZER_DOC + _COMMON_DOC
    algorithm = "QtAdam"


class AdamW(_AdamFamily):
    __doc__ = """The reference's AdamW, unquantized: w <- w + h - lr*wd*w (h as QtAdamW's).

    lr (1e-3), betas ((0.9, 0.999)), eps (1e-6), weight_decay (0).
    form ("reference"): eps on the uncorrected sqrt(v), the decay after the step. form="torch" is
        torch.optim.AdamW, bit for bit, with its defaults eps=1e-8 and weight_decay=0.01; its
        state_dict loads into torch.optim.AdamW and back.
""" + _COMMON_DOC
    algorithm = "AdamW"
    _decoupled = True

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: Optional[float] = None, weight_decay: Optional[float] = None, *, form: str = "reference",
                 maximize: bool = False, foreach: Optional[bool] = None, fused: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False) -> None:
        self._setup(*_locals(locals()))


class QSGD(_SgdFamily):
    __doc__ = """The paper's QtSGD: SGD whose update is quantized, w <- w + [-lr*d]_Q.

    d = g + wd*w, then with momentum buf <- momentum*buf + (1-dampening)*d and d = buf (or
    d + momentum*buf with nesterov), as torch.optim.SGD.
    lr (1e-3), momentum (0), dampening (0), weight_decay (0), nesterov (False). The reference's
    QSGD has no momentum or decay (the defaults); here they are opt-in. Steps count from 0 and the
    first update is not checked for zero (check_first_step=False), as the reference.
""" + _QUANTIZER_DOC + _COMMON_DOC
    algorithm = "QSGD"
    _quantized = True
    _check_first_step = False

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, qp: int = 0, schedule: str = "bump", rounding: str = "half_up",
                 seed: int = 0, zero_test: str = "sum", scope: str = "global", index_limit: int = 32,
                 check_first_step: bool = False, bump_on_zero_update: bool = False, base: float = 2.0,
                 eta: float = 524288.0, kappa: float = 2.0, warmup: float = 0.2, offset: bool = True,
                 batches_per_epoch: int = 0, epochs: int = 0, foreach: Optional[bool] = None,
                 fused: Optional[bool] = None, capturable: bool = False, differentiable: bool = False) -> None:
        self._setup(*_locals(locals()))


class SGD(_SgdFamily):
    __doc__ = """torch.optim.SGD's step in qres's loops: w <- w - lr*d (d as QSGD's).

    lr (1e-3), momentum (0), dampening (0), weight_decay (0), nesterov (False); its state_dict
    loads into torch.optim.SGD and back.
""" + _COMMON_DOC
    algorithm = "SGD"

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: Optional[bool] = None, fused: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False) -> None:
        self._setup(*_locals(locals()))


class StdSGD(QresOptimizer):
    __doc__ = """The follow-up's plain SGD (the train tool's stdSGD): w <- w - lr*(g + wd*w).

    lr (1e-3), weight_decay (0).
""" + _COMMON_DOC
    algorithm = "stdSGD"
    _option_keys = ("weight_decay", "maximize")
    _number_keys = ("weight_decay",)

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, weight_decay: float = 0.0, *,
                 maximize: bool = False, foreach: Optional[bool] = None, fused: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False) -> None:
        self._setup(*_locals(locals()))


_BY_NAME = {cls.algorithm: cls for cls in (QSGD, QtAdam, QtAdamW, AdamW, SGD, StdSGD)}


def create(algorithm: str, params: ParamsT, lr: Union[float, Tensor] = 1e-3, **options: Any) -> QresOptimizer:
    """The optimizer the train tool's --algo=`algorithm` names (QSGD, QtAdam, QtAdamW, AdamW, SGD,
    stdSGD), with `options` as its keywords."""
    if algorithm not in _BY_NAME:
        raise ValueError(f"unknown algorithm '{algorithm}' for Python; use one of: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[algorithm](params, lr=lr, **options)
