// The Python module `neurosim._C`. Importing it runs the TORCH_LIBRARY registrations of the
// other translation units; the module itself reports how it was built, the checkpoint interval
// of the temporal ops and the models of the generic scan.
#include <Python.h>

#include "neurosim/common.h"
#include "neurosim/scan_models.h"

extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C",
                                   "neurosim native kernels (ops live in torch.ops.neurosim)", -1,
                                   nullptr};
  PyObject* module = PyModule_Create(&module_def);
  if (module == nullptr) return nullptr;
#ifdef NEUROSIM_WITH_CUDA
  PyModule_AddIntConstant(module, "WITH_CUDA", 1);
#else
  PyModule_AddIntConstant(module, "WITH_CUDA", 0);
#endif
  PyModule_AddIntConstant(module, "CHECKPOINT_EVERY", neurosim::kCheckpointEvery);
  // SCAN_MODELS: name -> (code, parameters, state variables, recorded values) of scan_models.h
  PyObject* models = PyDict_New();
  if (models == nullptr) return nullptr;
  bool ok = true;
  neurosim::for_each_scan_model([&](int code, const char* name, neurosim::ScanModelSizes sizes) {
    PyObject* row = Py_BuildValue("(iiii)", code, sizes.params, sizes.state, sizes.recorded);
    ok = ok && row != nullptr && PyDict_SetItemString(models, name, row) == 0;
    Py_XDECREF(row);
  });
  if (!ok) return nullptr;
  if (PyModule_AddObject(module, "SCAN_MODELS", models) != 0) return nullptr;
  return module;
}
