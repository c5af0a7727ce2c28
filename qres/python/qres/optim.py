"""qres's optimizers as torch.optim optimizers: QSGD, QtAdam, QtAdamW, and the baselines SGD and
AdamW (the reference's form), each stepping through the C++ library's code (torch.ops.qres.step_),
so the same bits, defaults and error messages as `bazel run //qres/tools:train -- --algo=...`.

Options are keyword arguments with the train tool's names: the optimizer's (momentum, dampening,
nesterov, weight_decay, betas, eps, form) may differ per param group; the quantizer's (qp,
schedule, rounding, seed, zero_test, scope, index_limit, check_first_step, bump_on_zero_update,
base, eta, kappa, warmup, offset, batches_per_epoch, epochs) are one for the optimizer. A key left
out takes the C++ default. Bad options raise ValueError with the C++ library's message.

    optimizer = QtAdamW(model.parameters(), lr=1e-3, weight_decay=0.01, qp=2, rounding="stochastic", seed=7)
    ...; optimizer.step(); optimizer.index  # the quantization index after the step
"""
import torch
from torch.optim import Optimizer

# The quantizer's keys (QuantizerOptions::FromParams); qp, batches_per_epoch and epochs are the
# train tool's own flags.
_QUANTIZER_KEYS = ("schedule", "rounding", "seed", "zero_test", "scope", "index_limit", "check_first_step",
                   "bump_on_zero_update", "base", "eta", "kappa", "warmup", "offset")
_SPEC_KEYS = ("qp", "batches_per_epoch", "epochs")
_QUANTIZER_STATE = "qres_quantizer"  # int64 [3 + parameters]: see ops.cc
_INDEX = "qres_index"                # float64 [1]


@torch.library.register_fake("qres::step_")
def _step_fake(*args):
    """The step under torch.compile's FakeTensors: it writes its arguments in place and returns
    nothing (the schema's alias annotations say which it writes)."""
    return None


def _text(value):
    """A value as the C++ options parser reads it ("key=value,..."; lists joined by ':')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ":".join(_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same double
    return str(value)


def _options_text(options):
    return ",".join(f"{key}={_text(value)}" for key, value in options.items())


class QresOptimizer(Optimizer):
    """A qres optimizer (the registry's `algorithm`) as a torch.optim.Optimizer."""

    algorithm = None  # the C++ registry's name
    _adam = False     # Adam family: exp_avg and exp_avg_sq; else SGD's momentum_buffer

    def __init__(self, params, lr=1e-3, **options):
        quantizer = {key: options.pop(key) for key in _QUANTIZER_KEYS if key in options}
        spec = {key: int(options.pop(key)) for key in _SPEC_KEYS if key in options}
        self._quantizer_text = _options_text(quantizer)
        self._qp = spec.get("qp", 0)
        self._batches_per_epoch = spec.get("batches_per_epoch", 0)
        self._epochs = spec.get("epochs", 0)
        super().__init__(params, dict(lr=lr, **options))  # add_param_group checks each group

    def _describe(self, group):
        """The C++ registry's one-line description of `group`'s optimizer, or its error (ValueError)."""
        return torch.ops.qres.describe(self.algorithm, self._group_text(group), self._quantizer_text, self._qp,
                                       float(group["lr"]), self._batches_per_epoch, self._epochs)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._describe(self.param_groups[-1])  # every option checked now, with the C++ messages

    @property
    def description(self):
        """The optimizer's one-line description: the algorithm and its quantizer's options."""
        return self._describe(self.defaults)

    # Keys a group holds that are not the C++ optimizer's: its parameters and lr, what
    # torch.optim.lr_scheduler adds, and the flags torch.compile sets on an optimizer's groups.
    _NOT_OPTIONS = ("params", "lr", "initial_lr", "capturable", "differentiable", "foreach", "fused", "maximize")

    @classmethod
    def _group_text(cls, group):
        return _options_text({key: value for key, value in group.items() if key not in cls._NOT_OPTIONS})

    @property
    def index(self):
        """The quantization index after the last step (bump: n; log: log2 Q_p), as the train tool
        prints it; 0 before the first step or for an optimizer that does not quantize."""
        shared = self.state.get(self._first_param())
        return float(shared[_INDEX]) if shared and _INDEX in shared else 0.0

    def _first_param(self):
        return self.param_groups[0]["params"][0]

    def _state(self, param):
        state = self.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.int64)
            if self._adam:
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.contiguous_format)
                state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.contiguous_format)
            else:
                state["momentum_buffer"] = torch.empty(0, dtype=param.dtype, device=param.device)
        return state

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params, grads, state0, state1, steps = [], [], [], [], []
        texts, lrs, sizes = [], [], []
        for group in self.param_groups:
            texts.append(self._group_text(group))
            lrs.append(float(group["lr"]))
            sizes.append(len(group["params"]))
            for param in group["params"]:
                if param.grad is not None and param.grad.is_sparse:
                    raise ValueError(f"{self.algorithm}: parameter {len(params)} has a sparse gradient; qres's "
                                     "optimizers take dense gradients (an Embedding with sparse=False)")
                state = self._state(param)
                params.append(param)
                grads.append(param.grad)
                steps.append(state["step"])
                state0.append(state["exp_avg"] if self._adam else state["momentum_buffer"])
                if self._adam:
                    state1.append(state["exp_avg_sq"])
        shared = self.state[params[0]]
        if _QUANTIZER_STATE not in shared:
            shared[_QUANTIZER_STATE] = torch.zeros(3 + len(params), dtype=torch.int64)
            shared[_INDEX] = torch.zeros(1, dtype=torch.float64)
        elif len(shared[_QUANTIZER_STATE]) < 3 + len(params):  # a group added since: its tensors start at qp
            grown = torch.full((3 + len(params) - len(shared[_QUANTIZER_STATE]),), self._qp, dtype=torch.int64)
            shared[_QUANTIZER_STATE] = torch.cat([shared[_QUANTIZER_STATE], grown])
        torch.ops.qres.step_(self.algorithm, texts, lrs, sizes, self._quantizer_text, self._qp,
                             self._batches_per_epoch, self._epochs, params, grads, state0, state1, steps,
                             shared[_QUANTIZER_STATE], shared[_INDEX])
        return loss

    def _settings(self):
        """What the state means beyond the param groups: the algorithm and the quantizer's options."""
        return {"algorithm": self.algorithm, "quantizer": self._quantizer_text, "qp": self._qp,
                "batches_per_epoch": self._batches_per_epoch, "epochs": self._epochs}

    def state_dict(self):
        state_dict = super().state_dict()
        state_dict["qres"] = self._settings()
        return state_dict

    def load_state_dict(self, state_dict):
        saved = state_dict.get("qres")
        if saved is not None and saved != self._settings():
            raise ValueError(f"the optimizer state was saved with {saved}, "
                             f"not with this optimizer's {self._settings()}")
        # torch.optim casts a floating-point parameter's state to its dtype; the quantizer's integer
        # state and its float64 index must keep theirs.
        kept = {}
        for key, state in state_dict["state"].items():
            for name in (_QUANTIZER_STATE, _INDEX):
                if name in state:
                    kept[(key, name)] = state[name].clone()
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for (key, name), value in kept.items():
            self.state[params[key]][name] = value


class QSGD(QresOptimizer):
    """SGD with the update quantized (the paper's QSGD)."""
    algorithm = "QSGD"


class QtAdam(QresOptimizer):
    """Adam (the reference's form, L2 decay) with the update quantized."""
    algorithm = "QtAdam"
    _adam = True


class QtAdamW(QresOptimizer):
    """AdamW (the reference's form, decoupled decay) with the update quantized: the paper's QtAdamW."""
    algorithm = "QtAdamW"
    _adam = True


class AdamW(QresOptimizer):
    """The reference's AdamW: eps on the uncorrected sqrt(v), the decay after the step."""
    algorithm = "AdamW"
    _adam = True


class SGD(QresOptimizer):
    """torch.optim.SGD's step, in qres's loops."""
    algorithm = "SGD"


class StdSGD(QresOptimizer):
    """The follow-up's plain SGD, w <- w - lr*g (the train tool's stdSGD)."""
    algorithm = "stdSGD"


_BY_NAME = {cls.algorithm: cls for cls in (QSGD, QtAdam, QtAdamW, AdamW, SGD, StdSGD)}


def create(algorithm, params, lr=1e-3, **options):
    """The optimizer the train tool's --algo=`algorithm` names (QSGD, QtAdam, QtAdamW, AdamW, SGD,
    stdSGD)."""
    if algorithm not in _BY_NAME:
        raise ValueError(f"unknown algorithm '{algorithm}' for Python; use one of: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[algorithm](params, lr=lr, **options)
