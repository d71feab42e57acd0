#!/usr/bin/env python3
"""Convert an official CU-Net PyTorch checkpoint (.pth) to mcsc's checkpoint format.

    convert_cunet_pth.py INPUT.pth OUTPUT.mcsc [--dtype float32|float64] [--check-with-torch]

The official CU-Net weights (github.com/cindydeng1991/TPAMI-CU-Net, see
../shared/weights/cunet/README.md) are `torch.save`d dicts {'model': state_dict, 'train_loss': [...]}
in one of PyTorch's two container formats:

* legacy (torch < 1.6, or _use_new_zipfile_serialization=False): a sequence of pickles -- the magic
  number, the protocol version, sys_info, the object itself, the list of storage keys -- followed,
  per storage in that list, by an 8-byte element count and the raw element data (both always
  little-endian: torch converts on big-endian machines);
* zip (torch >= 1.6): <prefix>/data.pkl (the object) and one record <prefix>/data/<key> of raw
  data per storage (plus <prefix>/version and, in newer files, <prefix>/byteorder, the byte order
  of that data; without it, little-endian).

Both are read with the Python standard library only (no PyTorch, no numpy). The pickles are loaded
with a restricted Unpickler: only the handful of globals a state_dict needs are allowed (tensors,
storages, OrderedDict, and the numpy scalars of `train_loss`), each mapped to a small class here,
so loading a file never runs code from it. Tensors must be contiguous views of their storage.

The output is an mcsc checkpoint, format version 1 (include/mcsc/train/checkpoint.hpp): model type
"CuNet", the configuration inferred from the tensor shapes ("channels=C filters=K kernel=s
stages=S fusion=0|1 per_channel_threshold=0 residual=0"), the parameters in CuNet's registration order with
4-D shapes (a [1] threshold becomes (1, 1, 1, 1)), no optimiser state, epoch 0, and notes naming
the source file and its sha256. It is written to a temporary file and renamed into place.

Exit status: 0 on success, 2 on any error (with a message on stderr).
"""

import argparse
import collections
import hashlib
import io
import math
import os
import pickle
import struct
import sys
import tempfile
import zipfile

CHECKPOINT_MAGIC = b"MCSCCKPT"
CHECKPOINT_VERSION = 1
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


class ConversionError(Exception):
    """A problem with the input or output; reported as one line and exit status 2."""


# --------------------------------------------------------------------------- pickle stand-ins


class StorageType:
    """Stands for torch.FloatStorage etc.: the element type of a storage."""

    def __init__(self, name, element_size, struct_code):
        self.name = name
        self.element_size = element_size
        self.struct_code = struct_code  # for struct.unpack; None = not convertible

    def __repr__(self):
        return "torch." + self.name


STORAGE_TYPES = {
    "FloatStorage": StorageType("FloatStorage", 4, "f"),
    "DoubleStorage": StorageType("DoubleStorage", 8, "d"),
    "HalfStorage": StorageType("HalfStorage", 2, "e"),
    # Known but not convertible to float parameters (a CU-Net state_dict has none of these).
    "BFloat16Storage": StorageType("BFloat16Storage", 2, None),
    "LongStorage": StorageType("LongStorage", 8, None),
    "IntStorage": StorageType("IntStorage", 4, None),
    "ShortStorage": StorageType("ShortStorage", 2, None),
    "CharStorage": StorageType("CharStorage", 1, None),
    "ByteStorage": StorageType("ByteStorage", 1, None),
    "BoolStorage": StorageType("BoolStorage", 1, None),
}


class Storage:
    """A storage referenced from the pickle; its bytes are filled in after unpickling."""

    def __init__(self, storage_type, key, numel):
        self.type = storage_type
        self.key = key
        self.numel = numel
        self.data = None  # bytes, little-endian, numel * element_size long
        self.view_of = None  # legacy storage views: (root Storage, element offset)

    def bytes(self):
        if self.view_of is not None:
            root, offset = self.view_of
            size = self.type.element_size
            return root.bytes()[offset * size:(offset + self.numel) * size]
        if self.data is None:
            raise ConversionError("storage '%s' has no data in the file (truncated?)" % self.key)
        return self.data


class Tensor:
    """A tensor as pickled by torch: a view (offset, size, stride) of a storage."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, Storage):
            raise ConversionError("a tensor is rebuilt from %r, not from a storage" % (storage,))
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(d) for d in size)
        self.stride = tuple(int(d) for d in stride)

    @property
    def numel(self):
        n = 1
        for d in self.size:
            n *= d
        return n

    def is_contiguous(self):
        """PyTorch's rule: C-order strides, ignoring dimensions of size 1."""
        if len(self.stride) != len(self.size):
            return False
        expected = 1
        for d, s in zip(reversed(self.size), reversed(self.stride)):
            if d != 1 and s != expected:
                return False
            expected *= d
        return True

    def values(self, name):
        """The elements in C order as a tuple of Python floats."""
        code = self.storage.type.struct_code
        if code is None:
            raise ConversionError("'%s' is a %s tensor; only floating-point parameters can be converted"
                                  % (name, self.storage.type.name))
        return struct.unpack("<%d%s" % (self.numel, code), self.raw_bytes(name))

    def raw_bytes(self, name):
        """The elements' bytes in C order (checked to be a contiguous, in-bounds view)."""
        if not self.is_contiguous():
            raise ConversionError("'%s' is not contiguous (size %s, stride %s); save it with "
                                  "tensor.contiguous() first" % (name, list(self.size), list(self.stride)))
        if self.offset < 0 or self.offset + self.numel > self.storage.numel:
            raise ConversionError("'%s' (offset %d, %d elements) lies outside its storage of %d elements"
                                  % (name, self.offset, self.numel, self.storage.numel))
        size = self.storage.type.element_size
        data = self.storage.bytes()
        return data[self.offset * size:(self.offset + self.numel) * size]


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                      metadata=None):
    del requires_grad, backward_hooks, metadata  # irrelevant for the values
    return Tensor(storage, storage_offset, size, stride)


def rebuild_tensor(storage, storage_offset, size, stride):
    return Tensor(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    return data


class NumpyDtype:
    """numpy.dtype('f8', ...) as pickled: only the type string is kept."""

    def __init__(self, kind, align=False, copy=False):
        del align, copy
        self.kind = kind
        self.byteorder = "<"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = "<" if state[1] in ("|", "=") else state[1]


def numpy_scalar(dtype, data=None):
    """numpy.core.multiarray.scalar(dtype, bytes): decoded for the float/int types, else None."""
    codes = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "u8": "Q", "u4": "I"}
    if isinstance(data, str):
        data = data.encode("latin1")
    code = codes.get(getattr(dtype, "kind", None))
    if code is None or not isinstance(data, bytes) or len(data) != struct.calcsize(code):
        return None
    return struct.unpack(getattr(dtype, "byteorder", "<") + code, data)[0]


def codecs_encode(text, encoding="utf-8"):
    """_codecs.encode as used by protocol-2 pickles of bytes (always 'latin1')."""
    return text.encode(encoding)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("_codecs", "encode"): codecs_encode,
    ("numpy", "dtype"): NumpyDtype,
    ("numpy.core.multiarray", "scalar"): numpy_scalar,
    ("numpy._core.multiarray", "scalar"): numpy_scalar,
}
ALLOWED_GLOBALS.update({("torch", name): t for name, t in STORAGE_TYPES.items()})


class StateDictUnpickler(pickle._Unpickler):
    """Unpickles torch.save output without torch: restricted globals, storages collected.

    The pure-Python unpickler, not the C one: the C unpickler sizes its memo by the largest index
    a PUT opcode names, so a damaged pickle with LONG_BINPUT 779747721 made it allocate gigabytes
    (found by tools/fuzz_convert.py; the machine killed the converter after 21 GB). This one keeps
    the memo in a dict, and reads from memory (load_pth), so that no length in the file sizes an
    allocation beyond the file itself. The pickles are a few tens of kilobytes: the speed is moot.
    """

    # BYTEARRAY8 (protocol 5) allocates the length it reads before reading the bytes: refused,
    # since torch.save never writes one (a fuzzed length of 2^40 asked for a terabyte).
    dispatch = dict(pickle._Unpickler.dispatch)

    def load_bytearray8(self):
        raise ConversionError("'%s': the pickle holds a bytearray (pickle protocol 5), which a PyTorch state_dict "
                              "does not" % self.path)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def __init__(self, file, storages, path):
        super().__init__(file, encoding="latin1")
        self.storages = storages  # key -> Storage, shared by all pickles of one file
        self.path = path

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ConversionError("'%s' refers to %s.%s, which a CU-Net state_dict does not contain (not a "
                                  "plain PyTorch state_dict?); nothing of it was run"
                                  % (self.path, module, name)) from None

    def persistent_load(self, pid):
        # legacy: ('storage', type, key, location, numel, view_metadata)
        # zip:    ('storage', type, key, location, numel)
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise ConversionError("'%s': unsupported persistent id %r in the pickle" % (self.path, pid))
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, StorageType):
            raise ConversionError("'%s': unsupported storage type %r" % (self.path, storage_type))
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = Storage(storage_type, key, numel)
        view_metadata = pid[5] if len(pid) > 5 else None
        if view_metadata is None:
            return storage
        view_key, offset, view_numel = str(view_metadata[0]), int(view_metadata[1]), int(view_metadata[2])
        view = self.storages.get(view_key)
        if view is None:
            view = self.storages[view_key] = Storage(storage_type, view_key, view_numel)
            view.view_of = (storage, offset)
        return view


# --------------------------------------------------------------------------- the two containers


def load_zip(path, content):
    """torch.save's zip format: <prefix>/data.pkl and <prefix>/data/<key> per storage."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ConversionError("'%s' is a zip file but not a PyTorch checkpoint (no <name>/data.pkl)" % path)
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
        # A member's declared size bounds what reading it allocates (zipfile stops there), and a
        # compressed member can declare far more than the file holds: data.pkl gets a generous
        # bound, each storage record exactly its size (checked before it is read, below).
        pickle_size = archive.getinfo(pickles[0]).file_size
        if pickle_size > max(64 << 20, 16 * len(content)):
            raise ConversionError("'%s': its data.pkl declares %d bytes, more than a state_dict's pickle could need"
                                  % (path, pickle_size))
        storages = {}
        obj = StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), storages, path).load()
        for key, storage in storages.items():
            if storage.view_of is not None:
                continue
            record = prefix + "data/" + key
            if record not in names:
                raise ConversionError("'%s' has no record %s for a storage (damaged file?)" % (path, record))
            expected = storage.numel * storage.type.element_size
            declared = archive.getinfo(record).file_size
            if declared != expected:
                raise ConversionError("record %s of '%s' has %d bytes, expected %d" % (record, path, declared, expected))
            data = archive.read(record)
            if len(data) != expected:
                raise ConversionError("record %s of '%s' has %d bytes, expected %d" % (record, path, len(data),
                                                                                      expected))
            storage.data = swap_to_little_endian(data, storage.type, byteorder == "big")
    return obj, "zip (torch >= 1.6)"


def load_legacy(path, content):
    """torch.save's legacy format: five pickles, then the storages' raw data."""
    with io.BytesIO(content) as f:
        storages = {}

        def next_pickle(what):
            try:
                return StateDictUnpickler(f, storages, path).load()
            except ConversionError:
                raise
            except Exception as e:  # truncated or not a pickle at all
                raise ConversionError("'%s' is not a PyTorch checkpoint (cannot read the %s: %s)"
                                      % (path, what, str(e) or type(e).__name__)) from None

        if next_pickle("magic number") != LEGACY_MAGIC_NUMBER:
            raise ConversionError("'%s' is not a PyTorch checkpoint (wrong magic number)" % path)
        protocol = next_pickle("protocol version")
        if protocol != LEGACY_PROTOCOL_VERSION:
            raise ConversionError("'%s' has legacy protocol version %r, expected %d" % (path, protocol,
                                                                                        LEGACY_PROTOCOL_VERSION))
        next_pickle("sys_info")  # describes the saving machine; the data is little-endian regardless
        obj = next_pickle("checkpoint object")
        keys = next_pickle("storage key list")
        if not isinstance(keys, list):
            raise ConversionError("'%s': the storage key list is a %s" % (path, type(keys).__name__))
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise ConversionError("'%s' lists storage '%s', which no tensor uses" % (path, key))
            header = f.read(8)
            if len(header) != 8:
                raise ConversionError("'%s' ends before the data of storage '%s' (truncated?)" % (path, key))
            numel = struct.unpack("<q", header)[0]
            if numel != storage.numel:
                raise ConversionError("'%s': storage '%s' has %d elements in the data, %d in the pickle"
                                      % (path, key, numel, storage.numel))
            data = f.read(numel * storage.type.element_size)
            if len(data) != numel * storage.type.element_size:
                raise ConversionError("'%s' ends inside the data of storage '%s' (truncated?)" % (path, key))
            storage.data = data
    return obj, "legacy torch.save (pickle sequence)"


def swap_to_little_endian(data, storage_type, big_endian):
    if not big_endian or storage_type.element_size == 1:
        return data
    size = storage_type.element_size
    return b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))


def load_pth(path):
    """The object stored in a .pth file and a description of its container."""
    if not os.path.isfile(path):
        raise ConversionError("'%s' does not exist or is not a file" % path)
    with open(path, "rb") as f:
        content = f.read()  # in memory: reads inside it cannot ask for more than the file holds
    head = content[:4]
    if zipfile.is_zipfile(io.BytesIO(content)):
        try:
            return load_zip(path, content)
        except ConversionError:
            raise
        except Exception as e:  # a damaged archive, or a data.pkl that is not a pickle
            raise ConversionError("'%s' is a damaged zip checkpoint: %s" % (path, e)) from None
    if head == b"PK\x03\x04":
        raise ConversionError("'%s' starts like a zip checkpoint but has no zip directory (truncated?)" % path)
    return load_legacy(path, content)


# --------------------------------------------------------------------------- CU-Net layout


def state_dict_of(obj, path):
    """The state_dict inside a checkpoint object ({'model': ...}, {'state_dict': ...} or bare)."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if (not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj)
            or not all(isinstance(v, Tensor) for v in obj.values())):
        raise ConversionError("'%s' does not hold a CU-Net state_dict (expected a dict of tensors, possibly "
                              "under the key 'model')" % path)
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = collections.OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj


def infer_config(state, path):
    """CuNet's configuration from the tensor shapes (see include/mcsc/nn/cunet.hpp)."""
    if "conv_u.weight" not in state or "net_u.lam_in" not in state:
        raise ConversionError("'%s' is not a CU-Net state_dict (no conv_u.weight / net_u.lam_in; keys: %s)"
                              % (path, ", ".join(list(state)[:6]) + (", ..." if len(state) > 6 else "")))
    shape = state["conv_u.weight"].size
    if len(shape) != 4 or shape[2] != shape[3]:
        raise ConversionError("'%s': conv_u.weight has shape %s, expected [C, K, s, s]" % (path, list(shape)))
    stages = 0
    while "net_u.lam_%d" % stages in state:
        stages += 1
    return collections.OrderedDict([
        ("channels", shape[0]), ("filters", shape[1]), ("kernel", shape[2]), ("stages", stages),
        ("fusion", int("decoder.conv_3.weight" in state)), ("per_channel_threshold", 0), ("residual", 0)])


def cunet_layout(config):
    """(name, 4-D shape) of every CuNet parameter in registration order (LcscEncoder, then CuNet)."""
    C, K, s = config["channels"], config["filters"], config["kernel"]
    threshold = (1, 1, 1, 1)
    layout = []
    for prefix, c in (("net_u.", C), ("net_v.", C), ("net_z.", 2 * C)):
        layout.append((prefix + "layer_in.weight", (K, c, s, s)))
        layout.append((prefix + "lam_in", threshold))
        for j in range(config["stages"]):
            layout.append((prefix + "down_conv_%d.weight" % j, (c, K, s, s)))
            layout.append((prefix + "up_conv_%d.weight" % j, (K, c, s, s)))
            layout.append((prefix + "lam_%d" % j, threshold))
    for name in ("conv_u.weight", "conv_v.weight", "decoder.conv_1.weight", "decoder.conv_2.weight"):
        layout.append((name, (C, K, s, s)))
    if config["fusion"]:
        layout.append(("decoder.conv_3.weight", (C, K, s, s)))
    return layout


def shape4(size):
    """A PyTorch shape as mcsc stores it: [n] -> (n, 1, 1, 1), [o, i, h, w] as is."""
    if not 1 <= len(size) <= 4:
        return None
    return tuple(size) + (1,) * (4 - len(size))


def check_keys(state, layout, path):
    expected = dict(layout)
    missing = [name for name, _ in layout if name not in state]
    unexpected = [name for name in state if name not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected))
        raise ConversionError("'%s' is not a CU-Net state_dict of the inferred layout (%s)"
                              % (path, "; ".join(parts)))
    for name, shape in layout:
        if shape4(state[name].size) != shape:
            raise ConversionError("'%s': '%s' has shape %s, i.e. %s in mcsc, where the inferred configuration "
                                  "needs %s" % (path, name, list(state[name].size), shape4(state[name].size), shape))


# --------------------------------------------------------------------------- mcsc checkpoint


# Standard FNV-1a 64, as mcsc::Impl::fnv1a in include/mcsc/train/checkpoint.hpp.
FNV_OFFSET_BASIS = 14695981039346656037
FNV_PRIME = 1099511628211


def fnv1a64(data):
    """The checksum of mcsc checkpoints (FNV-1a over every byte, 64-bit)."""
    h = FNV_OFFSET_BASIS
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def encode_values(tensor, name, dtype):
    """The tensor's values as little-endian float32 or float64 bytes; NaN/Inf values are refused
    (mcsc's checkpoint reader refuses them too: a model with them outputs garbage)."""
    bad = sum(1 for v in tensor.values(name) if not math.isfinite(v))
    if bad:
        raise ConversionError("parameter '%s' holds %d NaN/Inf value(s)" % (name, bad))
    if dtype == "float32" and tensor.storage.type.name == "FloatStorage":
        return tensor.raw_bytes(name)  # stored little-endian already: copy bit for bit
    values = tensor.values(name)
    return struct.pack("<%d%s" % (len(values), "f" if dtype == "float32" else "d"), *values)


def checkpoint_bytes(state, layout, config_string, notes, dtype):
    """An mcsc checkpoint (format version 1), checksum included."""
    out = bytearray()

    def string(text):
        raw = text.encode("utf-8")
        out.extend(struct.pack("<Q", len(raw)))
        out.extend(raw)

    out.extend(CHECKPOINT_MAGIC)
    out.extend(struct.pack("<II", CHECKPOINT_VERSION, 4 if dtype == "float32" else 8))
    for text in ("CuNet", config_string, "", "", notes):  # model, config, optimizer, rng, notes
        string(text)
    out.extend(struct.pack("<qqdq", 0, 0, 0.0, 0))  # epoch, step, learning rate, optimizer steps
    out.extend(struct.pack("<I", len(layout)))
    for name, shape in layout:
        string(name)
        out.extend(struct.pack("<4q", *shape))
        out.extend(encode_values(state[name], name, dtype))
    out.extend(struct.pack("<I", 0))  # optimizer buffers
    out.extend(struct.pack("<Q", fnv1a64(out)))
    return bytes(out)


def write_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=directory)
    except OSError as e:
        raise ConversionError("cannot write '%s': %s" % (path, e.strerror or e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise ConversionError("writing '%s' failed: %s" % (path, e.strerror or e)) from None


# --------------------------------------------------------------------------- optional torch check


def check_with_torch(path, state, layout):
    """Loads path with PyTorch and requires the very same values (bit for bit) and shapes."""
    try:
        import torch
    except ImportError:
        raise ConversionError("--check-with-torch needs PyTorch, which is not installed") from None
    # weights_only=False: torch's own restricted loader rejects the numpy scalars of train_loss.
    # The file has already been through StateDictUnpickler, which allows only ALLOWED_GLOBALS.
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch < 1.13 has no weights_only (and loads everything)
        obj = torch.load(path, map_location="cpu")
    reference = obj.get("model", obj.get("state_dict", obj)) if isinstance(obj, dict) else obj
    if len(reference) != len(state):
        raise ConversionError("torch finds %d tensors, this reader %d" % (len(reference), len(state)))
    for name, _ in layout:
        key = name if name in reference else "module." + name
        t = reference[key].detach().cpu().contiguous()
        if tuple(t.shape) != state[name].size:
            raise ConversionError("torch: '%s' has shape %s, this reader %s" % (name, list(t.shape),
                                                                                 list(state[name].size)))
        if t.dtype == torch.float32:
            theirs = struct.pack("<%df" % t.numel(), *t.view(-1).tolist())
            same = theirs == state[name].raw_bytes(name)
        else:
            same = tuple(t.view(-1).tolist()) == state[name].values(name)
        if not same:
            raise ConversionError("torch and this reader disagree on the values of '%s'" % name)


# --------------------------------------------------------------------------- main


def convert(input_path, output_path, dtype="float32", torch_check=False):
    """Converts input_path to output_path; returns a one-line summary."""
    if os.path.exists(output_path) and os.path.exists(input_path) and os.path.samefile(input_path, output_path):
        raise ConversionError("the output '%s' is the input file; give another output path" % output_path)
    obj, container = load_pth(input_path)
    state = state_dict_of(obj, input_path)
    config = infer_config(state, input_path)
    layout = cunet_layout(config)
    check_keys(state, layout, input_path)
    if torch_check:
        check_with_torch(input_path, state, layout)
    with open(input_path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    config_string = " ".join("%s=%d" % kv for kv in config.items())
    notes = "converted by tools/convert_cunet_pth.py from %s (sha256 %s, %s format)" % (
        os.path.basename(input_path), sha256, container)
    if isinstance(obj, dict) and isinstance(obj.get("train_loss"), list):
        losses = obj["train_loss"]
        last = losses[-1] if losses and isinstance(losses[-1], float) else None
        notes += "; train_loss has %d entries" % len(losses)
        if last is not None:
            notes += ", last %.6g" % last
    try:
        data = checkpoint_bytes(state, layout, config_string, notes, dtype)
    except ConversionError as e:
        raise ConversionError("'%s': %s" % (input_path, e)) from None
    write_atomically(output_path, data)
    scalars = sum(state[name].numel for name, _ in layout)
    return "%s -> %s: CuNet {%s}, %d parameters, %d values (%s), source sha256 %s" % (
        input_path, output_path, config_string, len(layout), scalars, dtype, sha256)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert an official CU-Net PyTorch checkpoint (.pth, legacy or zip format) to an mcsc "
                    "checkpoint (include/mcsc/train/checkpoint.hpp). Needs neither PyTorch nor numpy.",
        epilog="Exit status 0 on success, 2 on error.")
    parser.add_argument("input", metavar="INPUT.pth", help="official CU-Net checkpoint")
    parser.add_argument("output", metavar="OUTPUT.mcsc", help="mcsc checkpoint to write (atomically)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="scalar type stored in the output (default float32, the official weights' own)")
    parser.add_argument("--check-with-torch", action="store_true",
                        help="also load INPUT with PyTorch (if installed) and require identical values")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        summary = convert(args.input, args.output, args.dtype, args.check_with_torch)
    except ConversionError as e:
        print("%s: error: %s" % (parser.prog, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: error: %s" % (parser.prog, e), file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
