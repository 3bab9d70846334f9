/* A plain C app that links the object aot_demo compiled and checks it against C arithmetic. */
#include <stdio.h>

void kiln_relu_affine(float* x, float* y, float scale, float shift);

int main(void) {
  static float x[1024], y[1024];
  for (int i = 0; i < 1024; ++i) x[i] = (float)(i - 512) / 64.0f;
  kiln_relu_affine(x, y, 0.5f, 1.0f);
  int errors = 0;
  for (int i = 0; i < 1024; ++i) {
    float expect = (x[i] > 0.0f ? x[i] : 0.0f) * 0.5f + 1.0f;
    if (y[i] != expect) ++errors;
  }
  printf("aot_demo_app: y[0]=%g y[1023]=%g, %d of 1024 differ from C\n", y[0], y[1023], errors);
  return errors == 0 ? 0 : 1;
}
