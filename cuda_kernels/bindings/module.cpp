// The Python module `neurosim._C`. Importing it runs the TORCH_LIBRARY registrations of the
// other translation units; the module itself reports how it was built (neurosim.build_info())
// and which instruction set the CPU kernels use, the checkpoint interval of the temporal ops
// and the models of the generic scan.
#include <Python.h>

#include "neurosim/common.h"
#include "neurosim/cpu_dispatch.h"
#include "neurosim/scan_models.h"

// Set by setup.py; the defaults only matter for a build outside it.
#ifndef NEUROSIM_BUILD_TORCH
#define NEUROSIM_BUILD_TORCH "unknown"
#endif
#ifndef NEUROSIM_BUILD_CUDA
#define NEUROSIM_BUILD_CUDA ""
#endif
#ifndef NEUROSIM_BUILD_ARCH_LIST
#define NEUROSIM_BUILD_ARCH_LIST ""
#endif
#ifndef NEUROSIM_BUILD_CPU_ISAS
#define NEUROSIM_BUILD_CPU_ISAS "single"
#endif

namespace {

PyObject* py_cpu_isa(PyObject*, PyObject*) { return PyUnicode_FromString(neurosim::cpu_isa()); }

PyObject* py_cpu_isa_supported(PyObject*, PyObject*) {
  return PyUnicode_FromString(neurosim::cpu_isa_supported());
}

PyObject* py_set_cpu_isa(PyObject*, PyObject* arg) {
  const char* name = PyUnicode_AsUTF8(arg);
  if (name == nullptr) return nullptr;
  if (!neurosim::set_cpu_isa(name)) {
    PyErr_Format(PyExc_ValueError,
                 "cpu_isa: %s is not one of this build's levels (%s) that this CPU supports (up to %s)", name,
                 NEUROSIM_BUILD_CPU_ISAS, neurosim::cpu_isa_supported());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"cpu_isa", py_cpu_isa, METH_NOARGS, "The instruction-set level the CPU kernels use now."},
    {"cpu_isa_supported", py_cpu_isa_supported, METH_NOARGS, "The widest level this CPU supports."},
    {"set_cpu_isa", py_set_cpu_isa, METH_O, "Use the CPU kernels of this level (baseline, avx2, avx512)."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C",
                                   "neurosim native kernels (ops live in torch.ops.neurosim)", -1, methods};
  PyObject* module = PyModule_Create(&module_def);
  if (module == nullptr) return nullptr;
#ifdef NEUROSIM_WITH_CUDA
  PyModule_AddIntConstant(module, "WITH_CUDA", 1);
#else
  PyModule_AddIntConstant(module, "WITH_CUDA", 0);
#endif
  PyModule_AddStringConstant(module, "BUILD_TORCH", NEUROSIM_BUILD_TORCH);
  PyModule_AddStringConstant(module, "BUILD_CUDA", NEUROSIM_BUILD_CUDA);
  PyModule_AddStringConstant(module, "BUILD_ARCH_LIST", NEUROSIM_BUILD_ARCH_LIST);
  PyModule_AddStringConstant(module, "BUILD_CPU_ISAS", NEUROSIM_BUILD_CPU_ISAS);
  PyModule_AddIntConstant(module, "BUILD_CXX_STANDARD", __cplusplus / 100 % 100);
  PyModule_AddIntConstant(module, "CHECKPOINT_EVERY", neurosim::kCheckpointEvery);
  // SCAN_MODELS: name -> (code, parameters, state variables, recorded values, timed) of scan_models.h
  PyObject* models = PyDict_New();
  if (models == nullptr) return nullptr;
  bool ok = true;
  neurosim::for_each_scan_model([&](int code, const char* name, neurosim::ScanModelSizes sizes) {
    PyObject* row = Py_BuildValue("(iiiiO)", code, sizes.params, sizes.state, sizes.recorded,
                                  sizes.timed ? Py_True : Py_False);
    ok = ok && row != nullptr && PyDict_SetItemString(models, name, row) == 0;
    Py_XDECREF(row);
  });
  if (!ok) return nullptr;
  if (PyModule_AddObject(module, "SCAN_MODELS", models) != 0) return nullptr;
  return module;
}
