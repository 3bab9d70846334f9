# dlopen()s the CUDA libraries by soname-with-path and calls version queries that need no GPU.
import ctypes, os
L = '/usr/local/cuda/lib64/'
lt = ctypes.CDLL(L + 'libcublasLt.so.13'); lt.cublasLtGetVersion.restype = ctypes.c_size_t
print('cublasLtGetVersion', lt.cublasLtGetVersion())
dnn = ctypes.CDLL(L + 'libcudnn.so.9'); dnn.cudnnGetVersion.restype = ctypes.c_size_t
print('cudnnGetVersion', dnn.cudnnGetVersion())
h = ctypes.c_void_p()
print('cudnnCreate (no GPU/driver expected to fail):', dnn.cudnnCreate(ctypes.byref(h)))
lth = ctypes.c_void_p()
print('cublasLtCreate (no driver):', lt.cublasLtCreate(ctypes.byref(lth)))
try:
    ctypes.CDLL('libcuda.so.1'); print('libcuda.so.1 loaded')
except OSError as e:
    print('libcuda.so.1:', e)
