#ifndef TOLLGATE_CQRENCODE_SHIM_H
#define TOLLGATE_CQRENCODE_SHIM_H
#include <qrencode.h>
#endif
