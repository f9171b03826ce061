// The Python module `neurosim._C`. Importing it runs the TORCH_LIBRARY registrations of the
// other translation units; the module itself only reports how it was built.
#include <Python.h>

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
  return module;
}
